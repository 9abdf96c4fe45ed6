/** The connection badge: state, what it means, pending count, position, initial-sync progress. */
import type { ClientStatus } from '@syncline/client';
import type { SyncProgress } from './use-sync-status';

export type ConnectionState = 'online' | 'offline' | 'syncing' | 'reconnecting';

/** `offline` is the switch; the client saying offline while the switch is off means the server is out of reach. */
export function connectionState(status: ClientStatus | null, offline: boolean): ConnectionState {
  if (offline) return 'offline';
  if (!status || status.state === 'offline') return 'reconnecting';
  return status.state;
}

interface Props {
  status: ClientStatus | null;
  offline: boolean;
  progress: Record<string, SyncProgress>;
  connectedOnce: boolean;
}

export function ConnectionBadge({ status, offline, progress, connectedOnce }: Props) {
  const state = connectionState(status, offline);
  const loading = Object.entries(progress).filter(([, p]) => !p.done);
  const pending = status?.pending ?? 0;
  let detail: string;
  if (state === 'offline') detail = 'Offline switch on: changes wait in this tab';
  else if (state === 'reconnecting')
    detail = status?.error ? `Refused: ${status.error.code}` : connectedOnce ? 'Server out of reach, retrying…' : 'Connecting…';
  else if (state === 'syncing')
    detail =
      loading.length > 0
        ? `Loading ${loading.map(([c, p]) => `${c}: ${p.received.toLocaleString()}`).join(', ')}…`
        : pending > 0
          ? `Sending ${pending} change${pending === 1 ? '' : 's'}…`
          : 'Catching up…';
  else detail = 'Up to date';

  return (
    <output className={`badge badge-${state}`} aria-live="polite" data-testid="connection-badge">
      <span className="badge-dot" aria-hidden="true" />
      <span className="badge-main">
        <span className="badge-state" data-testid="connection-state">
          {state}
        </span>
        <span className="badge-detail">{detail}</span>
      </span>
      <span className="badge-numbers">
        <span title="Local writes the server has not acknowledged yet">
          {/* Only once the replica is open: a test reading it never sees a 0 that is not yet known. */}
          pending {status ? <strong data-testid="pending-count">{pending}</strong> : <strong>–</strong>}
        </span>
        <span title="The last change-log position this replica applied">
          position <strong data-testid="position">{status?.position ?? 0}</strong>
        </span>
      </span>
    </output>
  );
}
