/** Result records, the printed table and bench/results/latest.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ROOT } from './harness.js';

export interface Result {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  baselineUnit: string;
  ratio: number;
  /** Minimum ratio; null = informational. With `targetLabel`, an upper bound on `value` instead. */
  target: number | null;
  /** How the target is printed when it is not a minimum ratio, e.g. `≤ 15 KiB`. */
  targetLabel?: string;
  pass: boolean | null;
  /** Set when a correctness check failed (value/baseline may then be 0). */
  error?: string;
  details?: Record<string, unknown>;
}

export function result(
  name: string,
  value: number,
  unit: string,
  baseline: number,
  baselineUnit: string,
  target: number | null,
  details?: Record<string, unknown>,
): Result {
  const ratio = baseline > 0 ? value / baseline : 0;
  return {
    name,
    value: round(value),
    unit,
    baseline: round(baseline),
    baselineUnit,
    ratio: Math.round(ratio * 1000) / 1000,
    target,
    pass: target === null ? null : ratio >= target,
    ...(details ? { details } : {}),
  };
}

/** A row whose target is an upper bound on the value itself (latency, memory), not a minimum ratio. */
export function resultAtMost(
  name: string,
  value: number,
  unit: string,
  baseline: number,
  baselineUnit: string,
  limit: number,
  targetLabel: string,
  details?: Record<string, unknown>,
): Result {
  return {
    ...result(name, value, unit, baseline, baselineUnit, null, details),
    target: round(limit),
    targetLabel,
    pass: value <= limit,
  };
}

export function failed(name: string, unit: string, baselineUnit: string, target: number | null, err: unknown): Result {
  return {
    name,
    value: 0,
    unit,
    baseline: 0,
    baselineUnit,
    ratio: 0,
    target,
    pass: target === null ? null : false,
    error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number, unit: string) =>
  `${Math.abs(n) < 100 && !Number.isInteger(n) ? n.toFixed(1) : Math.round(n).toLocaleString('en-US')} ${unit}`;

export function printTable(results: Result[]): string {
  const header = ['scenario', 'syncline', 'baseline', 'ratio', 'target', 'result'];
  const rows = results.map((r) => [
    r.name,
    r.error ? '—' : fmt(r.value, r.unit),
    r.error ? '—' : fmt(r.baseline, r.baselineUnit),
    r.error ? '—' : r.ratio.toFixed(2),
    r.targetLabel ?? (r.target === null ? '(info)' : `≥ ${r.target.toFixed(2)}`),
    r.error ? 'ERROR' : r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
  for (const r of results) if (r.error) out.push(`ERROR in ${r.name}: ${r.error}`);
  return out.join('\n');
}

export function writeJson(results: Result[], extra: Record<string, unknown>): string {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'latest.json');
  const cpus = os.cpus();
  const doc = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      node: process.version,
      cpuModel: cpus[0]?.model ?? 'unknown',
      platform: `${os.platform()} ${os.release()}`,
    },
    ...extra,
    results,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
