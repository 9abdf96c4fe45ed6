/** A write the server refused (nothing was changed there): its code and message. */
import { formatTime } from './format';
import type { LogEntry } from './use-sync-log';

type Rejected = Extract<LogEntry, { kind: 'rejected' }>;

export function RejectedEntry({ entry, name }: { entry: Rejected; name: string | undefined }) {
  const op = entry.operation;
  return (
    <li className="log-entry rejected" data-testid="rejected-entry" data-product-id={entry.id} data-code={entry.code}>
      <div className="log-title">
        <span className="tag tag-rejected">rejected</span>
        <strong>{String(op.data?.name ?? name ?? entry.id.slice(0, 8))}</strong>
        <time className="muted">{formatTime(entry.time)}</time>
      </div>
      <p className="log-outcome">
        The server refused this tab's {op.type}; it was removed from the queue and the product shows the server's version.
      </p>
      <p className="log-meta">
        code <code data-testid="rejected-code">{entry.code}</code>
      </p>
      <p className="log-message">{entry.message}</p>
    </li>
  );
}
