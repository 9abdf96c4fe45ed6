/** Page header: title, this tab's replica and client id, the connection badge and the offline switch. */
import type { ClientStatus } from '@syncline/client';
import { ConnectionBadge } from './connection-badge';
import { OfflineToggle } from './offline-toggle';
import type { TabReplica } from './tab-replica';
import type { SyncProgress } from './use-sync-status';

interface Props {
  replica: TabReplica;
  clientId: string;
  status: ClientStatus | null;
  progress: Record<string, SyncProgress>;
  connectedOnce: boolean;
  offline: boolean;
  onOffline: (offline: boolean) => void;
}

export function Header({ replica, clientId, status, progress, connectedOnce, offline, onOffline }: Props) {
  return (
    <header className="header">
      <div className="brand">
        <h1>
          Syncline <span>market</span>
        </h1>
        <p className="muted small">
          replica <code data-testid="replica-id">{replica.id}</code>
          {replica.adopted ? ' (taken over from a closed tab)' : ''} · client{' '}
          <code data-testid="client-id" title={clientId}>
            {clientId.slice(0, 8)}
          </code>
        </p>
      </div>
      <div className="header-status">
        <ConnectionBadge status={status} offline={offline} progress={progress} connectedOnce={connectedOnce} />
        <OfflineToggle offline={offline} onChange={onOffline} />
      </div>
    </header>
  );
}
