import { useState } from 'react';
import { ApiFailure, adminFetch } from './admin-api.js';
import type { CompactResult } from './api-types.js';
import { integer } from './format.js';

type Outcome = { ok: true; result: CompactResult; days: number } | { ok: false; error: ApiFailure };

interface Props {
  token: string | null;
  horizon: number | undefined;
}

/**
 * Compaction deletes history, so the button only opens a confirmation that says what goes
 * and who must resync; the POST happens on "Compact now".
 */
export function CompactPanel({ token, horizon }: Props) {
  const [open, setOpen] = useState(false);
  const [days, setDays] = useState('30');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const n = Number(days);
  const valid = days.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 36500;

  async function compact() {
    setBusy(true);
    try {
      const result = await adminFetch<CompactResult>('/compact', token, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ olderThanDays: n }),
      });
      setOutcome({ ok: true, result, days: n });
    } catch (e) {
      const error = e instanceof ApiFailure ? e : new ApiFailure('network', 0, 'UNREACHABLE', String(e));
      setOutcome({ ok: false, error });
    } finally {
      setBusy(false);
      setOpen(false);
    }
  }

  return (
    <section className="panel compact">
      <h2>
        Compaction <span className="muted">horizon {integer(horizon)}</span>
      </h2>
      <p className="muted">Removes old history from the change log and operation log.</p>
      <button type="button" className="danger" data-testid="compact-button" onClick={() => setOpen(true)}>
        Compact…
      </button>
      {outcome?.ok === true && (
        <div className="result ok" data-testid="compact-result" data-status="ok">
          Compacted (older than {outcome.days} days): <b>{integer(outcome.result.deletedChanges)}</b> changes,{' '}
          <b>{integer(outcome.result.deletedCount)}</b> operation-log entries and <b>{integer(outcome.result.purgedTombstones)}</b>{' '}
          tombstones deleted; new horizon <b>{integer(outcome.result.horizon)}</b>.
        </div>
      )}
      {outcome?.ok === false && (
        <div className="result error" data-testid="compact-result" data-status="error" data-code={outcome.error.code}>
          Compaction failed: <span className="code">{outcome.error.code}</span> {outcome.error.message}
        </div>
      )}
      {open && (
        <div className="overlay">
          <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="compact-title">
            <h3 id="compact-title">Compact the logs?</h3>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                if (valid && !busy) void compact();
              }}
            >
              <label>
                Older than{' '}
                <input
                  data-testid="compact-days"
                  type="number"
                  min={0}
                  max={36500}
                  value={days}
                  onChange={(e) => setDays(e.target.value)}
                  // biome-ignore lint/a11y/noAutofocus: the dialog's only field
                  autoFocus
                />{' '}
                days
              </label>
              <ul>
                <li>deletes changes and operation-log entries older than {valid ? n : 'N'} days,</li>
                <li>purges the tombstones of deleted documents older than that,</li>
                <li>moves the horizon: clients whose position is behind it must resync from scratch (their pending writes are kept).</li>
              </ul>
              <div className="actions">
                <button type="button" onClick={() => setOpen(false)} disabled={busy}>
                  Cancel
                </button>
                <button type="submit" className="danger" data-testid="compact-confirm" disabled={!valid || busy}>
                  {busy ? 'Compacting…' : 'Compact now'}
                </button>
              </div>
            </form>
          </div>
        </div>
      )}
    </section>
  );
}
