import { useMemo } from 'react';
import type { ClientRow, Overview, Sample } from './api-types.js';
import { COLORS } from './chart-setup.js';
import { integer, rate } from './format.js';
import { LagBars } from './lag-bars.js';
import { LineChart, type LineSeries, type Point } from './line-chart.js';

interface Props {
  samples: Sample[];
  overview: Overview | null;
  clients: readonly ClientRow[];
}

/** A sample missing for longer than this (server down, tab asleep) breaks the line instead of bridging it. */
const GAP_MS = 3500;

function line(samples: Sample[], label: string, color: string, y: (s: Sample) => number, stepped = false): LineSeries {
  const points: Point[] = [];
  let prev: Sample | undefined;
  for (const s of samples) {
    if (prev && s.t - prev.t > GAP_MS) points.push({ x: prev.t + 1000, y: null });
    points.push({ x: s.t, y: y(s) });
    prev = s;
  }
  return { label, color, stepped, points };
}

export function ChartsPanel({ samples, overview, clients }: Props) {
  const charts = useMemo(() => {
    const first = samples[0];
    const last = samples[samples.length - 1];
    const limit = overview?.maxOpenActions;
    // The limit line only once it is within reach: drawn at 64 it would flatten a few open actions onto the axis.
    const peak = Math.max(0, ...samples.map((s) => s.openActions));
    const limitLine: LineSeries[] =
      first && last && limit !== undefined && peak >= limit / 2
        ? [
            {
              label: 'limit',
              color: COLORS.red,
              dashed: true,
              points: [
                { x: first.t, y: limit },
                { x: last.t, y: limit },
              ],
            },
          ]
        : [];
    return {
      operations: [
        line(samples, 'operations/s', COLORS.blue, (s) => s.operationsPerSec),
        line(samples, 'deliveries/s', COLORS.green, (s) => s.deliveriesPerSec),
      ],
      clients: [line(samples, 'connected', COLORS.purple, (s) => s.connected, true)],
      position: [line(samples, 'position', COLORS.teal, (s) => s.position)],
      lag: [line(samples, 'max lag', COLORS.orange, (s) => s.maxLag)],
      actions: [line(samples, 'open', COLORS.blue, (s) => s.openActions, true), ...limitLine],
    };
  }, [samples, overview?.maxOpenActions]);

  const o = overview;
  return (
    <section className="charts">
      <LineChart
        testId="chart-operations"
        title="Operations/s and deliveries/s"
        series={charts.operations}
        current={o ? `${rate(o.rates.operationsPerSec)} / ${rate(o.rates.deliveriesPerSec)}` : undefined}
      />
      <LineChart
        testId="chart-clients"
        title="Connected clients"
        series={charts.clients}
        current={o ? integer(o.clients.connected) : undefined}
        integer
      />
      <LineChart
        testId="chart-position"
        title="Change-log position"
        series={charts.position}
        current={o ? integer(o.position) : undefined}
        integer
      />
      <LineChart
        testId="chart-lag"
        title="Max client lag (changes)"
        series={charts.lag}
        current={o ? integer(o.lag.max) : undefined}
        integer
      />
      <LineChart
        testId="chart-actions"
        title="Open FIN transactions"
        series={charts.actions}
        current={o ? `${integer(o.openActions)} open · limit ${integer(o.maxOpenActions)}` : undefined}
        integer
      />
      <LagBars clients={clients} />
    </section>
  );
}
