/**
 * The admin dashboard at /admin/: polls the admin API on the same origin (overview and series
 * every second; clients, operations and collections every 2 s) and draws it. On 401/403 it asks
 * for the admin token (kept in sessionStorage, sent as `Authorization: Bearer`); when the server
 * is unreachable it says so, keeps the last figures and keeps retrying.
 *
 * Stable data-testid hooks (for the end-to-end tests):
 * - overview-position, overview-connected, overview-ops-rate, open-actions: headline values
 *   (data-value = the raw number; text: position and connected as plain integers, the rate with one
 *   decimal, open-actions "open / max")
 * - bus-state (data-state = up | down | connecting | closed, or none without a bus; data-kind), bus-timeline
 *   (only with a bus; data-down-runs = stretches of "down" in the charted minutes)
 * - chart-operations, chart-clients, chart-position, chart-lag, chart-actions, chart-worst-lags:
 *   the canvas wrappers (data-points = points of the first line: one per sample, plus a break per gap;
 *   chart-worst-lags: bars)
 * - collections-table, its rows collection-row (data-collection = name)
 * - operations-table, its rows operation-row (data-status, data-code = error code or ""),
 *   operations-problems-only (checkbox: hide applied/committed rows)
 * - clients-table, its rows client-row (data-client-id, data-connected)
 * - compact-button, compact-days, compact-confirm, compact-result (data-status = ok | error, data-code)
 * - token-form, token-input, token-submit, sign-out; api-unreachable, api-error (banners)
 */
import type { ApiFailure } from './admin-api.js';
import type { ClientRow, Collections, OperationRow, Overview } from './api-types.js';
import { BusBadge } from './bus-badge.js';
import { BusTimeline } from './bus-timeline.js';
import { ChartsPanel } from './charts-panel.js';
import { ClientsTable } from './clients-table.js';
import { CollectionsTable } from './collections-table.js';
import { CompactPanel } from './compact-panel.js';
import { clockTime, relativeTime } from './format.js';
import { OperationsTable } from './operations-table.js';
import { OverviewTiles } from './overview-tiles.js';
import { TokenForm } from './token-form.js';
import { usePoll } from './use-poll.js';
import { useSeries } from './use-series.js';
import { useToken } from './use-token.js';

const OPERATIONS_SHOWN = 100;

export function Dashboard() {
  const [token, setToken] = useToken();
  const overview = usePoll<Overview>('/admin/api/overview', 1000, token);
  const series = useSeries(token);
  const clients = usePoll<{ clients: ClientRow[] }>('/admin/api/clients', 2000, token);
  const operations = usePoll<{ operations: OperationRow[] }>(`/admin/api/operations?limit=${OPERATIONS_SHOWN}`, 2000, token);
  const collections = usePoll<Collections>('/admin/api/collections', 2000, token);

  const errors = [overview.error, series.error, clients.error, operations.error, collections.error].filter(
    (e): e is ApiFailure => e !== null,
  );
  const authError = errors.find((e) => e.needsToken);
  const unreachable = errors.find((e) => e.kind === 'network');
  const otherError = errors.find((e) => e.kind === 'http' && !e.needsToken);
  const o = overview.data;
  const now = o?.time ?? Date.now();

  return (
    <div className="page">
      <header>
        <h1>Syncline admin</h1>
        {o && (
          <span className="muted" title={`instance ${o.instance.id}`}>
            instance <span className="mono">{o.instance.id.slice(0, 8)}</span> · {o.instance.adapter} · started{' '}
            {relativeTime(o.instance.startedAt, now)}
            {overview.updatedAt !== null && ` · updated ${clockTime(overview.updatedAt)}`}
          </span>
        )}
        <span className="spacer" />
        {o && <BusBadge bus={o.bus} />}
        {token && (
          <button type="button" data-testid="sign-out" onClick={() => setToken(null)}>
            Sign out
          </button>
        )}
      </header>

      {unreachable && (
        <div className="banner bad" data-testid="api-unreachable">
          Server unreachable: {unreachable.message} Retrying every second{o ? '; the figures below are from the last answer.' : '.'}
        </div>
      )}
      {otherError && !authError && (
        <div className="banner warn" data-testid="api-error">
          The admin API answered <span className="code">{otherError.code}</span> {otherError.message}
        </div>
      )}

      {authError ? (
        <TokenForm key={token ?? ''} error={authError} hadToken={token !== null} onToken={setToken} />
      ) : (
        <>
          <OverviewTiles overview={o} />
          <ChartsPanel samples={series.samples} overview={o} clients={clients.data?.clients ?? []} />
          <BusTimeline samples={series.samples} hasBus={!!o?.bus && o.bus.kind !== 'none'} />
          <div className="row">
            <CollectionsTable data={collections.data} />
            <CompactPanel token={token} horizon={collections.data?.horizon ?? o?.horizon} />
          </div>
          <OperationsTable operations={operations.data?.operations ?? null} />
          <ClientsTable clients={clients.data?.clients ?? null} now={now} />
        </>
      )}
    </div>
  );
}
