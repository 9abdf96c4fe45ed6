import type { ChartDataset } from 'chart.js';
import { useEffect, useRef } from 'react';
import { Chart, clockLabel } from './chart-setup.js';

export interface Point {
  x: number;
  y: number | null;
}

export interface LineSeries {
  label: string;
  color: string;
  points: Point[];
  dashed?: boolean;
  stepped?: boolean;
}

interface Props {
  testId: string;
  title: string;
  series: LineSeries[];
  /** Latest value shown beside the title. */
  current?: string;
  integer?: boolean;
}

function datasets(series: LineSeries[]): ChartDataset<'line', Point[]>[] {
  return series.map((s) => ({
    label: s.label,
    data: s.points,
    borderColor: s.color,
    backgroundColor: `${s.color}22`,
    borderWidth: s.dashed ? 1 : 1.5,
    borderDash: s.dashed ? [4, 4] : [],
    pointRadius: 0,
    stepped: s.stepped ?? false,
    fill: !s.dashed && series.length === 1,
    tension: 0,
  }));
}

/**
 * One time chart: the Chart.js instance lives as long as the canvas; new points replace the
 * data and redraw without animation. `data-points` on the wrapper counts what is drawn.
 */
export function LineChart({ testId, title, series, current, integer }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<'line', Point[]> | null>(null);

  useEffect(() => {
    if (!canvas.current) return;
    chart.current = new Chart(canvas.current, {
      type: 'line',
      data: { datasets: [] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', ticks: { count: 4, maxRotation: 0, callback: (v) => clockLabel(Number(v)) } },
          y: { beginAtZero: true, suggestedMax: integer ? 4 : 1, ticks: { maxTicksLimit: 5, precision: integer ? 0 : undefined } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { title: (items) => (items[0] ? clockLabel(items[0].parsed.x ?? 0) : '') } },
        },
      },
    });
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [integer]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    c.data.datasets = datasets(series);
    const xs = series.flatMap((s) => (s.points.length > 0 ? [s.points[0]!.x, s.points[s.points.length - 1]!.x] : []));
    c.options.plugins!.legend!.display = series.length > 1;
    c.options.scales!.x!.min = xs.length > 0 ? Math.min(...xs) : undefined;
    c.options.scales!.x!.max = xs.length > 0 ? Math.max(...xs) : undefined;
    c.update('none');
  }, [series]);

  const points = series[0]?.points.length ?? 0;
  return (
    <figure className="chart" data-testid={testId} data-points={points}>
      <figcaption>
        <span>{title}</span>
        {current !== undefined && <strong>{current}</strong>}
      </figcaption>
      <div className="chart-canvas">
        <canvas ref={canvas} role="img" aria-label={title} />
      </div>
    </figure>
  );
}
