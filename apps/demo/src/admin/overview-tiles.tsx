import type { ReactNode } from 'react';
import type { Overview } from './api-types.js';
import { integer, rate } from './format.js';

function Tile({
  label,
  testId,
  value,
  shown,
  detail,
}: {
  label: string;
  testId?: string;
  value?: number;
  shown: string;
  detail?: ReactNode;
}) {
  return (
    <div className="tile">
      <div className="tile-label">{label}</div>
      <div className="tile-value" data-testid={testId} data-value={value}>
        {shown}
      </div>
      {detail !== undefined && <div className="tile-detail">{detail}</div>}
    </div>
  );
}

/** The headline figures; each value element carries its raw number in data-value for tests. */
export function OverviewTiles({ overview: o }: { overview: Overview | null }) {
  if (!o) return <section className="tiles muted">Waiting for the first overview…</section>;
  const ns = o.clients.byNamespace ?? {};
  const s = o.totals.byStatus;
  return (
    <section className="tiles">
      <Tile
        label="Change-log position"
        testId="overview-position"
        value={o.position}
        shown={String(o.position)}
        detail={`horizon ${integer(o.horizon)}`}
      />
      <Tile
        label="Connected clients"
        testId="overview-connected"
        value={o.clients.connected}
        shown={String(o.clients.connected)}
        detail={Object.entries(ns)
          .map(([name, n]) => `${name} ${n}`)
          .join(' · ')}
      />
      <Tile
        label="Operations/s"
        testId="overview-ops-rate"
        value={o.rates.operationsPerSec}
        shown={rate(o.rates.operationsPerSec)}
        detail={`deliveries/s ${rate(o.rates.deliveriesPerSec)}`}
      />
      <Tile
        label="Open FIN transactions"
        testId="open-actions"
        value={o.openActions}
        shown={`${o.openActions} / ${o.maxOpenActions}`}
        detail={`committed ${integer(o.totals.actionsCommitted)} · rolled back ${integer(o.totals.actionsRolledBack)}`}
      />
      <Tile
        label="Operations"
        value={o.totals.operations}
        shown={integer(o.totals.operations)}
        detail={
          <>
            applied {integer(s.applied)} · <span className={s.conflict > 0 ? 'warn' : ''}>conflict {integer(s.conflict)}</span> ·{' '}
            <span className={s.rejected > 0 ? 'bad' : ''}>rejected {integer(s.rejected)}</span> · duplicate {integer(s.duplicate)}
          </>
        }
      />
      <Tile
        label="Deliveries"
        value={o.totals.deliveries}
        shown={integer(o.totals.deliveries)}
        detail={`lag max ${integer(o.lag.max)} over ${integer(o.lag.clients)} clients`}
      />
    </section>
  );
}
