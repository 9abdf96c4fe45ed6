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
      <p className="log-outcome">{outcome(op.type, entry.code)}</p>
      <p className="log-meta">
        code <code data-testid="rejected-code">{entry.code}</code>
      </p>
      <p className="log-message">{entry.message}</p>
    </li>
  );
}

function outcome(type: string, code: string): string {
  if (type === 'insert') return "The server refused this tab's new product; it was removed here.";
  const verb = type === 'delete' ? 'delete' : 'edit';
  if (code === 'DOCUMENT_NOT_FOUND') return `The product was deleted elsewhere; this tab's ${verb} was dropped.`;
  if (code === 'DEPENDENCY_REJECTED') return `Dropped with the product's refused insert.`;
  return `The server refused this tab's ${verb}; the product shows the server's version.`;
}
