/** A conflict the client resolved: whose version won, the two values of each field, the SDK's resolution. */
import { formatTime, formatValue } from './format';
import type { LogEntry } from './use-sync-log';

type Conflict = Extract<LogEntry, { kind: 'conflict' }>;

const QUIET = new Set(['id', 'lastUpdate', '_hlc']);

export function ConflictEntry({ entry, categories }: { entry: Conflict; categories: ReadonlyMap<number, string> }) {
  const op = entry.operation;
  const server = entry.serverDocument;
  const clientWon = entry.resolution !== 'server-wins';
  const name = String(server?.name ?? op.data?.name ?? entry.id.slice(0, 8));
  const fields = op.type === 'delete' ? [] : Object.keys(op.data ?? {}).filter((f) => !QUIET.has(f));
  return (
    <li
      className={`log-entry conflict ${clientWon ? 'won-client' : 'won-server'}`}
      data-testid="conflict-entry"
      data-product-id={entry.id}
      data-resolution={entry.resolution}
      data-winner={clientWon ? 'client' : 'server'}
    >
      <div className="log-title">
        <span className="tag tag-conflict">conflict</span>
        <strong>{name}</strong>
        <time className="muted">{formatTime(entry.time)}</time>
      </div>
      <p className="log-outcome">
        {clientWon
          ? `This tab's ${verb(op.type)} won: re-applied on top of the server's v${server?._rev ?? 0}.`
          : server
            ? `The server's version (v${server._rev}) won: this tab's ${verb(op.type)} was dropped.`
            : `The product is gone on the server: this tab's ${verb(op.type)} was dropped.`}
      </p>
      {fields.length > 0 ? (
        <table className="diff">
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">This tab</th>
              <th scope="col">Server</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((f) => {
              const mine = op.data?.[f];
              const theirs = server ? server[f] : undefined;
              const same = JSON.stringify(mine) === JSON.stringify(theirs);
              return (
                <tr key={f} className={same ? 'same' : 'differs'}>
                  <th scope="row">{f}</th>
                  <td className={clientWon ? 'winner' : 'loser'}>{formatValue(f, mine, categories)}</td>
                  <td className={clientWon ? 'loser' : 'winner'}>{server ? formatValue(f, theirs, categories) : 'deleted'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : op.type === 'delete' ? (
        <p className="muted">This tab deleted it; the server had a newer version.</p>
      ) : null}
      <p className="log-meta">
        resolution <code data-testid="conflict-resolution">{entry.resolution}</code> · code <code>{entry.code}</code>
      </p>
    </li>
  );
}

function verb(type: string): string {
  return type === 'delete' ? 'delete' : type === 'insert' ? 'insert' : 'edit';
}
