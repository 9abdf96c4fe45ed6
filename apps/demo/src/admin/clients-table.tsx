import type { ClientRow } from './api-types.js';
import { EmptyRow } from './empty-row.js';
import { integer, relativeTime, toMillis } from './format.js';

interface Props {
  clients: readonly ClientRow[] | null;
  /** The server's clock (overview.time), so "last seen" does not depend on this machine's clock. */
  now: number;
}

export function ClientsTable({ clients, now }: Props) {
  const rows = clients ?? [];
  const live = rows.filter((c) => c.connected).length;
  return (
    <section className="panel">
      <h2>
        Clients <span className="muted">{clients ? `${live} connected · ${rows.length - live} seen over REST or disconnected` : ''}</span>
      </h2>
      <div className="scroll tall">
        <table data-testid="clients-table">
          <thead>
            <tr>
              <th>Client id</th>
              <th>Namespace</th>
              <th>User</th>
              <th>Connected</th>
              <th>Address</th>
              <th className="num">Position</th>
              <th className="num">Lag</th>
              <th className="num">Pending</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={`${c.namespace}|${c.clientId}`} data-testid="client-row" data-client-id={c.clientId} data-connected={c.connected}>
                <td className="mono ellipsis" title={c.clientId}>
                  {c.clientId}
                </td>
                <td className="mono">{c.namespace}</td>
                <td className="ellipsis">{c.userId ?? <span className="muted">–</span>}</td>
                <td>{c.connected ? <span className="badge badge-up">live</span> : <span className="badge badge-none">no</span>}</td>
                <td className="mono ellipsis">{c.address ?? '–'}</td>
                <td className="num">{integer(c.position)}</td>
                <td className={`num ${(c.lag ?? 0) > 0 ? 'warn' : ''}`}>{integer(c.lag)}</td>
                <td className={`num ${(c.pending ?? 0) > 0 ? 'warn' : ''}`}>
                  {c.pending === null ? <span className="muted">–</span> : integer(c.pending)}
                </td>
                <td className="nowrap" title={toMillis(c.lastSeen) !== null ? new Date(toMillis(c.lastSeen)!).toISOString() : ''}>
                  {relativeTime(c.lastSeen, now)}
                </td>
              </tr>
            ))}
            {clients && rows.length === 0 && <EmptyRow columns={9}>No clients connected or seen recently.</EmptyRow>}
          </tbody>
        </table>
      </div>
    </section>
  );
}
