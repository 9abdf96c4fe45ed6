/** Conflicts and rejected writes of this tab, newest first. */
import { ConflictEntry } from './conflict-entry';
import { RejectedEntry } from './rejected-entry';
import type { LogEntry } from './use-sync-log';

interface Props {
  entries: LogEntry[];
  nameOf: (id: string) => string | undefined;
  categories: ReadonlyMap<number, string>;
  onClear: () => void;
}

export function ConflictLog({ entries, nameOf, categories, onClear }: Props) {
  return (
    <section className="card side-card" aria-labelledby="log-title">
      <div className="card-head">
        <h2 id="log-title">
          Conflicts and rejections <span className="count">{entries.length}</span>
        </h2>
        {entries.length > 0 ? (
          <button type="button" className="link" onClick={onClear}>
            Clear
          </button>
        ) : null}
      </div>
      {entries.length === 0 ? (
        <p className="muted">
          None yet. To see one: switch this tab offline, edit a product, edit the same product in another tab, then switch back online.
        </p>
      ) : null}
      <ul className="log" data-testid="conflict-log" aria-live="polite">
        {entries.map((e) =>
          e.kind === 'conflict' ? (
            <ConflictEntry key={e.key} entry={e} categories={categories} />
          ) : (
            <RejectedEntry key={e.key} entry={e} name={nameOf(e.id)} />
          ),
        )}
      </ul>
    </section>
  );
}
