import { useEffect, useMemo, useRef } from 'react';
import type { ClientRow } from './api-types.js';
import { Chart, COLORS } from './chart-setup.js';

const WORST = 8;

/** The clients furthest behind the head of the change log (lag > 0), worst first; `live`: connected now. */
export function worstLags(clients: readonly ClientRow[]): { label: string; lag: number; live: boolean }[] {
  return clients
    .filter((c) => (c.lag ?? 0) > 0)
    .sort((a, b) => (b.lag ?? 0) - (a.lag ?? 0))
    .slice(0, WORST)
    .map((c) => ({ label: c.clientId.length > 14 ? `${c.clientId.slice(0, 13)}…` : c.clientId, lag: c.lag ?? 0, live: c.connected }));
}

export function LagBars({ clients }: { clients: readonly ClientRow[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<'bar'> | null>(null);
  const worst = useMemo(() => worstLags(clients), [clients]);

  useEffect(() => {
    if (!canvas.current) return;
    chart.current = new Chart(canvas.current, {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'lag (changes)', data: [], backgroundColor: COLORS.orange }] },
      options: {
        indexAxis: 'y',
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: { beginAtZero: true, ticks: { precision: 0, maxTicksLimit: 5 } } },
        plugins: { legend: { display: false } },
      },
    });
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.data.labels = worst.map((w) => w.label);
    c.data.datasets[0]!.data = worst.map((w) => w.lag);
    // A disconnected or REST client falls behind by every change; only a live one's lag is news.
    c.data.datasets[0]!.backgroundColor = worst.map((w) => (w.live ? COLORS.orange : COLORS.grey));
    c.update('none');
  }, [worst]);

  return (
    <figure className="chart" data-testid="chart-worst-lags" data-points={worst.length}>
      <figcaption>
        <span>
          Worst client lags <span className="muted legend-note">orange live · grey offline/REST</span>
        </span>
        <strong>{worst.length === 0 ? 'none behind' : `${worst.length} behind`}</strong>
      </figcaption>
      <div className="chart-canvas">
        <canvas ref={canvas} role="img" aria-label="Worst client lags" />
        {worst.length === 0 && <div className="chart-empty muted">Every client is at the head of the change log.</div>}
      </div>
    </figure>
  );
}
