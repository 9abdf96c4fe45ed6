import { useMemo } from 'react';
import type { Sample } from './api-types.js';
import { clockLabel } from './chart-setup.js';

interface Run {
  from: number;
  to: number;
  up: boolean | null;
}

/** Consecutive samples with the same bus state as one run, so the strip is a few divs, not 600. */
export function busRuns(samples: readonly Sample[], intervalMs = 1000): Run[] {
  const runs: Run[] = [];
  for (const s of samples) {
    const up = s.busUp ?? null;
    const last = runs[runs.length - 1];
    if (last && last.up === up) last.to = s.t + intervalMs;
    else runs.push({ from: s.t, to: s.t + intervalMs, up });
  }
  return runs;
}

/** Drawn only with a bus (`hasBus`): without one every sample says busUp false, which is no news. */
export function BusTimeline({ samples, hasBus }: { samples: readonly Sample[]; hasBus: boolean }) {
  const runs = useMemo(() => busRuns(samples), [samples]);
  if (!hasBus || runs.length === 0) return null;
  return (
    <div className="bus-timeline" data-testid="bus-timeline" data-down-runs={runs.filter((r) => r.up === false).length}>
      <span className="muted">bus</span>
      <div className="strip">
        {runs.map((r) => (
          <div
            key={r.from}
            className={r.up === null ? 'run-none' : r.up ? 'run-up' : 'run-down'}
            style={{ flexGrow: r.to - r.from }}
            title={`${r.up === null ? 'no bus' : r.up ? 'up' : 'down'} ${clockLabel(r.from)}–${clockLabel(r.to)}`}
          />
        ))}
      </div>
      <span className="muted legend-note">green up · red down, over the charted minutes</span>
    </div>
  );
}
