/** The pending queue, in the order it will be sent. */
import { formatValue } from './format';
import type { PendingQueue } from './use-pending';

const VERB: Record<string, string> = { insert: 'add', patch: 'edit', update: 'replace', upsert: 'save', delete: 'delete' };
/** Columns every edit writes: not worth listing. */
const QUIET = new Set(['id', 'lastUpdate', '_hlc']);

interface Props {
  queue: PendingQueue;
  offline: boolean;
  categories: ReadonlyMap<number, string>;
}

export function PendingPanel({ queue, offline, categories }: Props) {
  const { entries, total } = queue;
  return (
    <section className="card side-card" aria-labelledby="pending-title">
      <h2 id="pending-title">
        Pending changes <span className="count">{total}</span>
      </h2>
      {total === 0 ? (
        <p className="muted">Nothing waiting: every change of this tab is on the server.</p>
      ) : (
        <>
          <p className="muted">{offline ? 'Sent when you switch offline off.' : 'Being sent to the server…'}</p>
          <ol className="pending-list" data-testid="pending-list">
            {entries.map((e) => (
              <li key={e.seq} data-testid="pending-entry" data-doc-id={e.docId} data-type={e.type}>
                <span className={`verb verb-${e.type}`}>{VERB[e.type] ?? e.type}</span>{' '}
                <strong>{String(e.data?.name ?? e.baseName ?? e.docId.slice(0, 8))}</strong>
                {e.collection !== 'product' ? <span className="muted"> ({e.collection})</span> : null}
                {e.type !== 'delete' && e.data ? <span className="muted"> {summary(e.data, categories)}</span> : null}
              </li>
            ))}
          </ol>
          {total > entries.length ? <p className="muted">… and {total - entries.length} more</p> : null}
        </>
      )}
    </section>
  );
}

function summary(data: Record<string, unknown>, categories: ReadonlyMap<number, string>): string {
  return Object.entries(data)
    .filter(([k, v]) => !QUIET.has(k) && k !== 'name' && v !== '')
    .map(([k, v]) => `${k} ${formatValue(k, v, categories)}`)
    .join(', ');
}
