/**
 * Capture of existing SQL tables (TABLE_NAMES), issue 4: writes made directly
 * in SQL by another program, delivered to `/sync` subscribers.
 *
 *   capture-latency  A writer in the bench process (8 pg connections) inserts
 *           single rows, each its own transaction, at 100 and 1,000/s into a
 *           table listed in TABLE_NAMES; each row carries its send time `t`
 *           (wall clock, ms, taken just before the INSERT goes out) and its
 *           phase `m`. Subscribers (a separate process, bench/fanout-clients.ts)
 *           measure receive − t per change. Baseline, same run: esink's way
 *           done raw (bench/capture-baseline-server.ts): a row-level trigger
 *           `pg_notify`s the row's JSON, a LISTEN client `io.emit`s it from a
 *           bare Socket.IO server to the same subscribers. Target: Syncline's
 *           p99 ≤ 30 ms (absolute).
 *   capture-ingest  pg clients insert rows (`INSERT … SELECT FROM unnest(…)`)
 *           into two identical tables, one in TABLE_NAMES of a running
 *           Syncline server (its triggers append to the change log, the
 *           server sequences committed transactions, and its change feed
 *           delivers them to `--capture-subscribers` /sync subscribers of the
 *           watched table, 10 by default), one not. Rounds alternate between
 *           the tables, each after the server went idle. rows/s watched ÷
 *           unwatched ≥ 0.9. Shapes (issue 14): single-row transactions at 1, 8
 *           and 32 writers, 100-row batches at 8, transactions of 10 single-row
 *           INSERTs at 8; `--capture-churn=N` first churns N markers through
 *           open_tx with autovacuum off on it. After each watched round every
 *           subscriber must hold every watched row so far exactly once, in
 *           order (outside the measured window); every watched row must be in
 *           the change log exactly once, no unwatched one.
 *   capture-mysql  As capture-latency on MariaDB/MySQL at 100 writes/s (one
 *           mysql2 connection), against a raw poller of a trigger-fed table
 *           every MYSQL_POLL_INTERVAL_MS (esink's MySQL way). Target: p99 ≤
 *           poll interval + 20 ms. If the server build has no MySQL adapter
 *           (GET /health does not answer adapter "mysql"), the rows say
 *           "could not run: MySQL adapter not available".
 *
 * Correctness (CorrectnessError): every subscriber gets every change exactly
 * once, in position order, without a gap (checked by the client process);
 * the measured deliveries are subscribers × measured writes; on PostgreSQL
 * the change log holds each watched row exactly once.
 *
 * Reading the figures (latest.json details): `p50/p99` are receive − t (the
 * headline); `commitP50/commitP99` receive − the change's `timestamp`
 * (Syncline: its commit/sequencing time; baseline: its emit time);
 * `writeP99ms` the INSERT's round trip; `lagP99ms` how late the writer
 * sent a write after it fell due (a writer that cannot keep up), with
 * `skippedWrites` beyond 256 queued.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import type { ClientsConfig, ClientsReport, ClientsStatus, FromClients, ToClients } from './fanout-clients.js';
import {
  admin,
  CorrectnessError,
  docData,
  machineCpu,
  now,
  postgresCpuSeconds,
  processCpuSeconds,
  ROOT,
  round,
  runTimed,
  type ServerChild,
  sleep,
  startServer,
  type TimedResult,
  timedDetails,
} from './harness.js';
import { failed, type Result, result, resultAtMost } from './report.js';

export interface CaptureConfig {
  databaseUrl: string;
  /** Writes per second of the latency scenario, one phase each. */
  rates: number[];
  /** `/sync` sockets subscribed to the watched table (and to the baseline). */
  subscribers: number;
  warmupMs: number;
  measureMs: number;
  /** Longest wait, after the last write, for every subscriber to have every change. */
  drainMs: number;
  /** capture-ingest: concurrent pg clients, rows per INSERT, rounds per table. */
  ingestClients: number;
  ingestBatch: number;
  ingestRounds: number;
  /** capture-ingest: markers churned through open_tx (autovacuum off on it) before measuring; 0: none. */
  ingestChurn?: number;
  mysql: { host: string; port: number; user: string; password: string; database: string };
  /** capture-mysql: writes per second and the poll interval of both sides. */
  mysqlRate: number;
  pollMs: number;
  keep: boolean;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

/** Tables being captured live here; Syncline's own tables in SYNC_SCHEMA. */
const TABLE_SCHEMA = 'bench_capture';
const SYNC_SCHEMA = 'bench_capture_sl';
const RAW_CHANNEL = 'bench_capture_raw';
const LATENCY_P99_MS = 30;
const INGEST_TARGET = 0.9;
const POLL_SLACK_MS = 20;
const PG_WRITERS = 8;
/** Writes queued behind busy writer connections at most; beyond that a write falling due is skipped (and counted). */
const MAX_QUEUED = 256;
const CLIENTS_SCRIPT = join(ROOT, 'bench/fanout-clients.ts');
const BASELINE_SCRIPT = join(ROOT, 'bench/capture-baseline-server.ts');

const wall = () => performance.timeOrigin + performance.now();
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

// ---------------------------------------------------------------- subscriber process

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * bench/fanout-clients.ts as a child: it answers each request (and `ready`
 * first) in order, so answers are matched to waiters first in, first out.
 */
class Subscribers {
  private readonly waiters: { resolve: (m: FromClients) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly count: number,
  ) {
    children.add(child);
    child.on('message', (m: FromClients) => {
      if (m.type === 'fatal') this.fail(`subscriber process: ${m.message}`);
      else this.waiters.shift()?.resolve(m);
    });
    this.exit = new Promise((res) =>
      child.on('exit', (code) => {
        children.delete(child);
        this.fail(`subscriber process exited (code ${code})`);
        res();
      }),
    );
  }

  static async start(cfg: ClientsConfig, cpuProfDir?: string): Promise<Subscribers> {
    const prof = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProfDir, `capture-clients-${cfg.mode}`)}`] : [];
    const child = spawn(process.execPath, [...prof, '--import', 'tsx', CLIENTS_SCRIPT, JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const s = new Subscribers(child, cfg.clients);
    try {
      await s.next('ready', 120_000);
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private fail(message: string): void {
    this.failure ??= new Error(message);
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  private next(what: string, timeoutMs: number): Promise<FromClients> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`subscriber process: no ${what} within ${timeoutMs / 1000} s`);
        this.child.kill('SIGKILL');
      }, timeoutMs);
      this.waiters.push({
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  private async ask<T extends ClientsStatus | ClientsReport>(type: T['type']): Promise<T> {
    const answer = this.next(type, 60_000);
    this.child.send({ type } satisfies ToClients);
    return (await answer) as T;
  }

  status = () => this.ask<ClientsStatus>('status');
  report = () => this.ask<ClientsReport>('report');

  phase(phase: number, from: number, to: number): void {
    this.child.send({ type: 'phase', phase, from, to, until: to } satisfies ToClients);
  }

  async stop(): Promise<void> {
    if (!children.has(this.child)) return;
    this.child.send({ type: 'exit' } satisfies ToClients);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(timer);
  }
}

/** Waits until every subscriber has exactly `expected` changes; an error, a lost socket, an extra change or a stall is a CorrectnessError. */
async function drain(subs: Subscribers, expected: number, maxMs: number, what: string): Promise<number> {
  const t0 = now();
  let total = -1;
  let progress = now();
  for (;;) {
    const s = await subs.status();
    if (s.errors > 0) throw new CorrectnessError(`${what}: ${s.errors} gap/duplicate/protocol error(s); first: ${s.firstError}`);
    if (s.connected < subs.count) throw new CorrectnessError(`${what}: ${subs.count - s.connected} subscriber(s) disconnected`);
    if (s.maxCount > expected) throw new CorrectnessError(`${what}: a subscriber got ${s.maxCount} changes, ${expected} rows were written`);
    if (s.minCount === expected) return now() - t0;
    if (s.totalCount !== total) [total, progress] = [s.totalCount, now()];
    if (now() - progress > 10_000 || now() - t0 > maxMs) {
      throw new CorrectnessError(
        `${what}: a subscriber has ${s.minCount} of ${expected} changes ${Math.round((now() - t0) / 1000)} s after the last write`,
      );
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------- paced writer

interface Row {
  id: number;
  /** The phase when written inside the measured window, else 0. */
  m: number;
  /** Send time: wall clock, ms. */
  t: number;
  payload: string;
}

/** Inserts one row as its own transaction on one connection. */
type Insert = (row: Row) => Promise<unknown>;

interface WriterFigures {
  writes: number;
  measuredWrites: number;
  skippedWrites: number;
  achievedRate: number;
  writeP50ms: number;
  writeP99ms: number;
  lagP99ms: number;
  cpuCores: Record<string, number>;
}

/**
 * Writes `rate` rows/s on a fixed schedule for warmupMs + measureMs: a write
 * falling due goes to an idle connection, or waits (at most MAX_QUEUED) for
 * one; its `t` is taken when it is sent.
 */
async function pacedInserts(o: {
  rate: number;
  warmupMs: number;
  measureMs: number;
  phase: number;
  connections: Insert[];
  nextId: () => number;
  onWindow: (from: number, to: number) => void;
  cpu: CpuProcesses;
}): Promise<WriterFigures> {
  const total = Math.round(((o.warmupMs + o.measureMs) * o.rate) / 1000);
  const warm = Math.round((o.warmupMs * o.rate) / 1000);
  const t0 = now() + 20;
  o.onWindow(wall() + 20 + o.warmupMs, wall() + 20 + o.warmupMs + o.measureMs);
  const idle = [...o.connections];
  const queue: number[] = [];
  const running = new Set<Promise<void>>();
  const lat: number[] = [];
  const lag: number[] = [];
  let failure: unknown;
  let sent = 0;
  let measured = 0;
  let skipped = 0;

  const run = async (insert: Insert) => {
    for (let k = queue.shift(); k !== undefined && failure === undefined; k = queue.shift()) {
      const a = now();
      lag.push(a - (t0 + (k * 1000) / o.rate));
      const id = o.nextId();
      try {
        await insert({ id, m: k >= warm ? o.phase : 0, t: wall(), payload: `Row ${id}, written directly in SQL by another program` });
      } catch (err) {
        failure ??= err;
      }
      lat.push(now() - a);
      sent++;
      if (k >= warm) measured++;
    }
    idle.push(insert);
  };
  const kick = () => {
    while (idle.length > 0 && queue.length > 0) {
      const p: Promise<void> = run(idle.pop() as Insert).finally(() => running.delete(p));
      running.add(p);
    }
  };

  const cpu = cpuWindow(o.cpu, t0 + o.warmupMs, t0 + o.warmupMs + o.measureMs);
  let k = 0;
  while (k < total && failure === undefined) {
    const due = Math.min(total, Math.floor(((now() - t0) * o.rate) / 1000) + 1);
    for (; k < due; k++) {
      if (queue.length >= MAX_QUEUED) skipped++;
      else queue.push(k);
    }
    kick();
    await sleep(Math.max(0, t0 + (k * 1000) / o.rate - now()));
  }
  const end = now();
  while (running.size > 0) await Promise.all(running);
  const cpuCores = await cpu;
  if (failure) throw failure;
  lat.sort((x, y) => x - y);
  lag.sort((x, y) => x - y);
  return {
    writes: sent,
    measuredWrites: measured,
    skippedWrites: skipped,
    achievedRate: round((sent * 1000) / (end - t0), 1),
    writeP50ms: round(pct(lat, 0.5), 1),
    writeP99ms: round(pct(lat, 0.99), 1),
    lagP99ms: round(pct(lag, 0.99), 1),
    cpuCores,
  };
}

interface CpuProcesses {
  pids: Record<string, number>;
  postgres: boolean;
}

/** CPU cores used by each process (and the machine) between two moments of now(). */
async function cpuWindow(p: CpuProcesses, from: number, to: number): Promise<Record<string, number>> {
  const sample = () => ({
    t: now(),
    machine: machineCpu().busy / 100,
    bench: process.cpuUsage(),
    postgres: p.postgres ? postgresCpuSeconds() : 0,
    procs: Object.fromEntries(Object.entries(p.pids).map(([k, pid]) => [k, processCpuSeconds(pid)])),
  });
  await sleep(from - now());
  const a = sample();
  await sleep(to - now());
  const b = sample();
  const s = (b.t - a.t) / 1000;
  const out: Record<string, number> = {};
  for (const k of Object.keys(p.pids)) out[k] = round(((b.procs[k] ?? 0) - (a.procs[k] ?? 0)) / s, 2);
  if (p.postgres) out.postgres = round((b.postgres - a.postgres) / s, 2);
  out.bench = round((b.bench.user + b.bench.system - a.bench.user - a.bench.system) / 1e6 / s, 2);
  out.machine = round((b.machine - a.machine) / s, 2);
  return out;
}

// ---------------------------------------------------------------- latency runs

interface PhaseFigures extends WriterFigures {
  rate: number;
  p50: number;
  p99: number;
  commitP50: number;
  commitP99: number;
  maxCommitMs: number;
  changesPerFrame: number;
  drainMs: number;
}

interface LatencyRun {
  server: ServerChild;
  mode: 'syncline' | 'baseline';
  /** What the subscribers subscribe to (mode syncline). */
  collection: string;
  rates: readonly number[];
  /** The writer's connections, each inserting into the table the server delivers from. */
  connections: Insert[];
  nextId: () => number;
  /** Sample PostgreSQL's CPU. */
  postgres: boolean;
  label: string;
}

/** One subscriber process against one server, through every rate. */
async function latencyRun(cfg: CaptureConfig, o: LatencyRun): Promise<PhaseFigures[]> {
  const { server, mode, collection, rates, connections, nextId, label } = o;
  const startPosition =
    mode === 'baseline' ? (await server.client.request<{ position: number }>('GET', '/health')).body.position : undefined;
  const subs = await Subscribers.start(
    {
      url: `http://127.0.0.1:${server.port}`,
      clients: cfg.subscribers,
      mode,
      collection,
      ...(startPosition === undefined ? {} : { startPosition }),
    },
    cfg.cpuProfDir,
  );
  const phases: PhaseFigures[] = [];
  try {
    let written = 0;
    for (const [i, rate] of rates.entries()) {
      const what = `${label} at ${rate} writes/s`;
      const w = await pacedInserts({
        rate,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.measureMs,
        phase: i + 1,
        connections,
        nextId,
        onWindow: (from, to) => subs.phase(i + 1, from, to),
        cpu: { pids: { server: server.pid, subscribers: subs.pid }, postgres: o.postgres },
      });
      written += w.writes;
      const drainMs = await drain(subs, written, cfg.drainMs, what);
      const r = await subs.report();
      if (r.measuredDeliveries !== cfg.subscribers * w.measuredWrites) {
        throw new CorrectnessError(
          `${what}: ${r.measuredDeliveries} measured deliveries, expected ${cfg.subscribers} × ${w.measuredWrites}`,
        );
      }
      const f: PhaseFigures = {
        rate,
        p50: round(r.e2eP50, 1),
        p99: round(r.e2eP99, 1),
        commitP50: round(r.p50, 1),
        commitP99: round(r.p99, 1),
        maxCommitMs: round(r.max, 1),
        changesPerFrame: round(r.changesPerFrame, 2),
        drainMs: Math.round(drainMs),
        ...w,
      };
      phases.push(f);
      cfg.log(
        `  ${what}: write→client p50 ${f.p50} ms, p99 ${f.p99} ms (from the change's timestamp p50 ${f.commitP50} / p99 ${f.commitP99} ms); ` +
          `writes ${f.achievedRate}/s (INSERT p99 ${f.writeP99ms} ms, lag p99 ${f.lagP99ms} ms, ${f.skippedWrites} skipped); ` +
          `${f.changesPerFrame} changes/frame; CPU ${JSON.stringify(f.cpuCores)}`,
      );
    }
    // A late duplicate would arrive after the drain: look once more.
    await sleep(300);
    await drain(subs, written, 0, `${label} after the last phase`);
  } finally {
    await subs.stop();
  }
  return phases;
}

/** The p50 (informational) and p99 (target: at most `limit`) rows of one rate. */
function latencyRows(
  name: string,
  s: PhaseFigures,
  b: PhaseFigures,
  limit: number,
  label: string,
  details: Record<string, unknown>,
): Result[] {
  // A writer that could not keep the rate offered less load than the name says: say so where the figure is read.
  if (s.achievedRate < 0.9 * s.rate || b.achievedRate < 0.9 * b.rate) {
    name += ` [writer sent ${Math.round(s.achievedRate)}/s | baseline ${Math.round(b.achievedRate)}/s]`;
  }
  return [
    result(`${name}: p50`, s.p50, 'ms', b.p50, 'ms', null),
    resultAtMost(`${name}: p99`, s.p99, 'ms', b.p99, 'ms', limit, label, { ...details, syncline: s, baseline: b }),
  ];
}

function failedLatencyRows(name: string, limit: number, label: string, err: unknown): Result[] {
  return [failed(`${name}: p50`, 'ms', 'ms', null, err), { ...failed(`${name}: p99`, 'ms', 'ms', limit, err), targetLabel: label }];
}

const startBaseline = (label: string, env: Record<string, string>, cpuProfDir?: string) =>
  startServer({ label, env, command: ['--import', 'tsx', BASELINE_SCRIPT], ...(cpuProfDir ? { cpuProfDir } : {}) });

// ---------------------------------------------------------------- PostgreSQL

const dropPgSchemas = (url: string) =>
  admin(url, (c) => c.query(`DROP SCHEMA IF EXISTS ${SYNC_SCHEMA} CASCADE; DROP SCHEMA IF EXISTS ${TABLE_SCHEMA} CASCADE`));

/** Fresh schemas for one PostgreSQL scenario (`ddl` creates its tables in TABLE_SCHEMA); dropped afterwards unless `keep`. */
async function withPgSchemas<T>(cfg: CaptureConfig, ddl: string, fn: () => Promise<T>): Promise<T> {
  await dropPgSchemas(cfg.databaseUrl);
  try {
    await admin(cfg.databaseUrl, (c) => c.query(`CREATE SCHEMA ${TABLE_SCHEMA}; SET search_path = ${TABLE_SCHEMA}; ${ddl}`));
    return await fn();
  } finally {
    if (!cfg.keep) await dropPgSchemas(cfg.databaseUrl);
  }
}

const startSyncline = (cfg: CaptureConfig, label: string, tables: string) =>
  startServer({
    label,
    env: {
      ADAPTER: 'postgres',
      DATABASE_URL: cfg.databaseUrl,
      SYNCLINE_SCHEMA: SYNC_SCHEMA,
      SYNCLINE_TABLE_SCHEMA: TABLE_SCHEMA,
      TABLE_NAMES: tables,
      // Nothing may be dropped as a slow consumer: the check is that every subscriber gets every change.
      SYNCLINE_SOCKET_BUFFER_LIMIT: '1000000',
    },
    ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
  });

async function pgConnections(url: string, n: number): Promise<pg.Client[]> {
  const clients = Array.from({ length: n }, () => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((c) => c.connect()));
  return clients;
}

const pgInsert =
  (c: pg.Client, table: string): Insert =>
  (r) =>
    c.query({
      name: `capture-insert-${table}`,
      text: `INSERT INTO ${TABLE_SCHEMA}.${table} (id, m, t, payload) VALUES ($1, $2, $3, $4)`,
      values: [r.id, r.m, r.t, r.payload],
    });

/** Each watched row is in Syncline's change log exactly once. */
async function checkChangeLog(url: string, table: string, what: string): Promise<void> {
  const { rows } = await admin(url, (c) =>
    c.query<{ rows: number; changes: number; distinct: number }>(
      // Inserts into a table are logged one log row per statement with its keys in `ids`.
      `SELECT (SELECT count(*) FROM ${TABLE_SCHEMA}.${table})::integer AS rows,
              count(*)::integer AS changes, count(DISTINCT k)::integer AS distinct
       FROM ${SYNC_SCHEMA}.changes ch, unnest(coalesce(ch.ids, ARRAY[ch.doc_id])) AS k WHERE ch.collection = $1`,
      [table],
    ),
  );
  const r = rows[0] as { rows: number; changes: number; distinct: number };
  if (r.changes !== r.rows || r.distinct !== r.rows) {
    throw new CorrectnessError(`${what}: ${r.rows} rows in ${table}, ${r.changes} changes in the log for ${r.distinct} distinct rows`);
  }
}

const LATENCY_DDL = `
CREATE TABLE cap_lat (id bigint PRIMARY KEY, m integer NOT NULL, t double precision NOT NULL, payload text NOT NULL);
CREATE TABLE cap_raw (LIKE cap_lat INCLUDING ALL);
CREATE FUNCTION cap_raw_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${RAW_CHANNEL}', row_to_json(NEW)::text);
  RETURN NULL;
END $$;
CREATE TRIGGER cap_raw_notify AFTER INSERT ON cap_raw FOR EACH ROW EXECUTE FUNCTION cap_raw_notify();`;

export async function captureLatency(cfg: CaptureConfig): Promise<Result[]> {
  const name = (rate: number) => `capture PG ${rate} w/s: SQL write→client`;
  const label = `≤ ${LATENCY_P99_MS} ms (absolute)`;
  try {
    return await withPgSchemas(cfg, LATENCY_DDL, async () => {
      const conns = await pgConnections(cfg.databaseUrl, PG_WRITERS);
      let id = 0;
      const nextId = () => ++id;
      try {
        cfg.log(
          `capture-latency: Syncline, TABLE_NAMES=cap_lat, ${cfg.subscribers} /sync subscribers, writes at ${cfg.rates.join(' and ')}/s`,
        );
        const syncline = await startSyncline(cfg, 'capture-latency', 'cap_lat');
        let syn: PhaseFigures[];
        try {
          const connections = conns.map((c) => pgInsert(c, 'cap_lat'));
          const run = { server: syncline, mode: 'syncline', collection: 'cap_lat', rates: cfg.rates, connections, nextId } as const;
          syn = await latencyRun(cfg, { ...run, postgres: true, label: 'syncline' });
        } finally {
          await syncline.stop();
        }
        await checkChangeLog(cfg.databaseUrl, 'cap_lat', 'capture-latency');
        cfg.log(`capture-latency: baseline, row trigger pg_notify → LISTEN → io.emit, ${cfg.subscribers} sockets`);
        const env = { CAPTURE_MODE: 'pg-listen', CAPTURE_DATABASE_URL: cfg.databaseUrl, CAPTURE_CHANNEL: RAW_CHANNEL };
        const baseline = await startBaseline('capture-baseline', env, cfg.cpuProfDir);
        let base: PhaseFigures[];
        try {
          const connections = conns.map((c) => pgInsert(c, 'cap_raw'));
          const run = { server: baseline, mode: 'baseline', collection: 'cap_raw', rates: cfg.rates, connections, nextId } as const;
          base = await latencyRun(cfg, { ...run, postgres: true, label: 'baseline' });
        } finally {
          await baseline.stop();
        }
        return cfg.rates.flatMap((rate, i) =>
          latencyRows(name(rate), syn[i] as PhaseFigures, base[i] as PhaseFigures, LATENCY_P99_MS, label, {
            target: `Syncline p99 ≤ ${LATENCY_P99_MS} ms, receive − the writer's send time`,
            subscribers: cfg.subscribers,
            writerConnections: PG_WRITERS,
            warmupMs: cfg.warmupMs,
            measureMs: cfg.measureMs,
          }),
        );
      } finally {
        await Promise.all(conns.map((c) => c.end()));
      }
    });
  } catch (err) {
    cfg.log(`capture-latency: ${err instanceof CorrectnessError ? err.message : ((err as Error).stack ?? String(err))}`);
    return cfg.rates.flatMap((rate) => failedLatencyRows(name(rate), LATENCY_P99_MS, label, err));
  }
}

// Not a column named `n`: the capture trigger's `to_jsonb(n) FROM new_rows n` would take that column for the row (reported).
const INGEST_DDL = `
CREATE TABLE ing_watched (id bigint PRIMARY KEY, title text NOT NULL, qty integer NOT NULL, tags jsonb NOT NULL, done boolean NOT NULL,
                          created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE ing_plain (LIKE ing_watched INCLUDING ALL);`;

/** Waits (up to 60 s) until the server uses under 5 % of a core: it has read the change log's backlog. */
async function settle(pid: number): Promise<void> {
  const deadline = now() + 60_000;
  for (;;) {
    const a = processCpuSeconds(pid);
    await sleep(500);
    if (processCpuSeconds(pid) - a < 0.025 || now() > deadline) return;
  }
}

/** One capture-ingest workload: concurrent writers, rows per INSERT statement, INSERT statements per transaction. */
export interface IngestShape {
  writers: number;
  rows: number;
  statements: number;
}

/** Issue 14's shapes: single-row transactions at 1, 8 and 32 writers, 100-row batches at 8, a transaction of 10 statements. */
export const INGEST_SHAPES: IngestShape[] = [
  { writers: 1, rows: 1, statements: 1 },
  { writers: 8, rows: 1, statements: 1 },
  { writers: 32, rows: 1, statements: 1 },
  { writers: 8, rows: 100, statements: 1 },
  { writers: 8, rows: 1, statements: 10 },
];

const shapeName = (s: IngestShape) =>
  s.statements > 1
    ? `${s.writers} writers × transactions of ${s.statements} single-row INSERTs`
    : s.rows > 1
      ? `${s.writers} writers × ${s.rows}-row INSERTs`
      : `${s.writers} writer${s.writers > 1 ? 's' : ''} × single-row transactions`;

/** The rows of one INSERT statement of capture-ingest, as columns. */
interface IngestRows {
  id: number[];
  title: string[];
  qty: number[];
  tags: string[];
  done: boolean[];
}

/** A database's side of capture-ingest: writer connections and how they insert and group statements. */
interface IngestDb {
  /** One INSERT statement of these rows on writer connection `w`; throws if it wrote another number of rows. */
  insert(w: number, table: string, rows: IngestRows): Promise<void>;
  begin(w: number): Promise<void>;
  commit(w: number): Promise<void>;
  /** The database's CPU is sampled (PostgreSQL on this machine). */
  postgresCpu: boolean;
}

/**
 * Every shape against a running server watching `ing_watched` (not `ing_plain`),
 * with `cfg.subscribers` /sync subscribers of it throughout; after each watched
 * round every subscriber must hold every watched row so far exactly once.
 */
async function ingestShapes(
  cfg: CaptureConfig,
  server: ServerChild,
  db: IngestDb,
  shapes: IngestShape[],
  label: string,
  target: number,
): Promise<Result[]> {
  const out: Result[] = [];
  const subs = await Subscribers.start(
    { url: `http://127.0.0.1:${server.port}`, clients: cfg.subscribers, mode: 'syncline', collection: 'ing_watched' },
    cfg.cpuProfDir,
  );
  let watchedRows = 0;
  let seq = 0;
  const task = (table: string, shape: IngestShape) => async (w: number) => {
    const insert = async () => {
      const cols: IngestRows = { id: [], title: [], qty: [], tags: [], done: [] };
      for (let i = 0; i < shape.rows; i++) {
        const n = ++seq;
        const d = docData(n);
        cols.id.push(n);
        cols.title.push(d.title);
        cols.qty.push(d.n);
        cols.tags.push(JSON.stringify(d.tags));
        cols.done.push(d.done);
      }
      await db.insert(w, table, cols);
    };
    if (shape.statements === 1) await insert();
    else {
      await db.begin(w);
      for (let i = 0; i < shape.statements; i++) await insert();
      await db.commit(w);
    }
    if (table === 'ing_watched') watchedRows += shape.rows * shape.statements;
    return shape.rows * shape.statements;
  };
  try {
    for (const shape of shapes) {
      const name = `capture-ingest ${shapeName(shape)}${label}: watched ÷ unwatched`;
      const runs: Record<'ing_watched' | 'ing_plain', TimedResult[]> = { ing_watched: [], ing_plain: [] };
      for (let round = 0; round < cfg.ingestRounds; round++) {
        const order = round % 2 === 0 ? (['ing_plain', 'ing_watched'] as const) : (['ing_watched', 'ing_plain'] as const);
        for (const table of order) {
          await settle(server.pid);
          const t = await runTimed({
            workers: shape.writers,
            warmupMs: cfg.warmupMs,
            measureMs: cfg.measureMs,
            task: task(table, shape),
            serverPid: server.pid,
            postgresCpu: db.postgresCpu,
          });
          runs[table].push(t);
          cfg.log(
            `  ${shapeName(shape)}, round ${round + 1}, ${table}: ${Math.round(t.perSecond).toLocaleString('en-US')} rows/s ` +
              `(p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms)`,
          );
          // Outside the measured window: every subscriber has every watched row so far, once.
          if (table === 'ing_watched') await drain(subs, watchedRows, cfg.drainMs, `capture-ingest ${shapeName(shape)}${label}`);
        }
      }
      const rate = (ts: TimedResult[]) => ts.reduce((a, t) => a + t.units, 0) / ts.reduce((a, t) => a + t.seconds, 0);
      out.push(
        result(name, rate(runs.ing_watched), 'rows/s', rate(runs.ing_plain), 'rows/s', target, {
          ...shape,
          rounds: cfg.ingestRounds,
          warmupMs: cfg.warmupMs,
          measureMs: cfg.measureMs,
          note: `the Syncline server runs throughout; ${cfg.subscribers} /sync subscribers of the watched table received every change exactly once (checked)`,
          watched: runs.ing_watched.map(timedDetails),
          unwatched: runs.ing_plain.map(timedDetails),
        }),
      );
    }
    // A late duplicate would arrive after the drain: look once more.
    await sleep(300);
    await drain(subs, watchedRows, 0, `capture-ingest${label} after the last shape`);
  } finally {
    await subs.stop();
  }
  return out;
}

export async function captureIngest(cfg: CaptureConfig, shapes: IngestShape[] = INGEST_SHAPES, label = ''): Promise<Result[]> {
  let out: Result[] = [];
  const maxWriters = Math.max(...shapes.map((s) => s.writers));
  await withPgSchemas(cfg, INGEST_DDL, async () => {
    cfg.log(`capture-ingest${label}: Syncline running with TABLE_NAMES=ing_watched`);
    const server = await startSyncline(cfg, 'capture-ingest', 'ing_watched');
    const conns = await pgConnections(cfg.databaseUrl, maxWriters);
    if (cfg.ingestChurn) {
      // A queue table's history as a busy database leaves it between vacuums (ids no transaction has).
      cfg.log(`  churning ${cfg.ingestChurn} markers through ${SYNC_SCHEMA}.open_tx, autovacuum off on it`);
      await admin(cfg.databaseUrl, (c) =>
        c.query(`ALTER TABLE ${SYNC_SCHEMA}.open_tx SET (autovacuum_enabled = false);
          INSERT INTO ${SYNC_SCHEMA}.open_tx (tx, api) SELECT (g + 4000000000000)::text::xid8, false FROM generate_series(1, ${cfg.ingestChurn}) g;
          DELETE FROM ${SYNC_SCHEMA}.open_tx WHERE tx >= '4000000000000'::xid8`),
      );
    }
    const db: IngestDb = {
      postgresCpu: true,
      async insert(w, table, rows) {
        const r = await (conns[w] as pg.Client).query({
          name: `ingest-${table}`,
          text: `INSERT INTO ${TABLE_SCHEMA}.${table} (id, title, qty, tags, done)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::jsonb[], $5::boolean[])`,
          values: [rows.id, rows.title, rows.qty, rows.tags, rows.done],
        });
        if (r.rowCount !== rows.id.length) throw new CorrectnessError(`INSERT into ${table} wrote ${r.rowCount} rows`);
      },
      begin: async (w) => void (await (conns[w] as pg.Client).query('BEGIN')),
      commit: async (w) => void (await (conns[w] as pg.Client).query('COMMIT')),
    };
    try {
      out = await ingestShapes(cfg, server, db, shapes, label, INGEST_TARGET);
      await checkChangeLog(cfg.databaseUrl, 'ing_watched', 'capture-ingest');
      const { rows } = await admin(cfg.databaseUrl, (c) =>
        c.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${SYNC_SCHEMA}.changes WHERE collection = 'ing_plain'`),
      );
      if (rows[0]?.n !== 0) throw new CorrectnessError(`capture-ingest: ${rows[0]?.n} changes captured from the unwatched table`);
    } finally {
      await Promise.all(conns.map((c) => c.end()));
      await server.stop();
    }
  });
  return out;
}

// ---------------------------------------------------------------- MySQL / MariaDB

type MysqlConnection = import('mysql2/promise').Connection;

async function mysqlConnect(cfg: CaptureConfig, database?: string): Promise<MysqlConnection> {
  const mysql = await import('mysql2/promise');
  const { host, port, user, password } = cfg.mysql;
  return mysql.createConnection({ host, port, user, password, ...(database ? { database } : {}) });
}

async function mysqlExec(cfg: CaptureConfig, database: string | undefined, statements: string[]): Promise<void> {
  const c = await mysqlConnect(cfg, database);
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

const MYSQL_DDL = [
  'CREATE TABLE cap_my (id BIGINT PRIMARY KEY, m INT NOT NULL, t DOUBLE NOT NULL, payload VARCHAR(200) NOT NULL)',
  'CREATE TABLE cap_my_raw LIKE cap_my',
  'CREATE TABLE cap_my_raw_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload LONGTEXT NOT NULL)',
  `CREATE TRIGGER cap_my_raw_ai AFTER INSERT ON cap_my_raw FOR EACH ROW
   INSERT INTO cap_my_raw_log (payload) VALUES (JSON_OBJECT('id', NEW.id, 'm', NEW.m, 't', NEW.t, 'payload', NEW.payload))`,
];

/** The scenario cannot run on this server build. */
class NotAvailable extends Error {
  override name = 'NotAvailable';
}

export async function captureMysql(cfg: CaptureConfig): Promise<Result[]> {
  const db = cfg.mysql.database;
  const limit = cfg.pollMs + POLL_SLACK_MS;
  const label = `≤ ${limit} ms (poll ${cfg.pollMs} + ${POLL_SLACK_MS})`;
  const name = `capture MariaDB ${cfg.mysqlRate} w/s: SQL write→client`;
  const drop = () => mysqlExec(cfg, undefined, [`DROP DATABASE IF EXISTS \`${db}\``]);
  const serverEnv = {
    ADAPTER: 'mysql',
    MYSQL_DATABASE: db,
    MYSQL_HOST: cfg.mysql.host,
    MYSQL_PORT: String(cfg.mysql.port),
    MYSQL_USERNAME: cfg.mysql.user,
    MYSQL_PASSWORD: cfg.mysql.password,
    MYSQL_POLL_INTERVAL_MS: String(cfg.pollMs),
    // A build without the MySQL adapter falls back to PGlite: keep it in memory, out of the checkout.
    SYNCLINE_DATA_DIR: 'memory://',
    SYNCLINE_SOCKET_BUFFER_LIMIT: '1000000',
  };
  try {
    await drop();
    await mysqlExec(cfg, undefined, [`CREATE DATABASE \`${db}\``]);
    try {
      await mysqlExec(cfg, db, MYSQL_DDL);
      // Does this build have the MySQL adapter? Asked without TABLE_NAMES, so a build without it still starts.
      const probe = await startServer({ label: 'capture-mysql-probe', env: serverEnv });
      const health = await probe.client.request<{ adapter?: string }>('GET', '/health').finally(() => probe.stop());
      if (health.body.adapter !== 'mysql') {
        throw new NotAvailable(
          `could not run: MySQL adapter not available (asked for ADAPTER=mysql, this server build answers GET /health ` +
            `with adapter ${JSON.stringify(health.body.adapter)})`,
        );
      }
      const conn = await mysqlConnect(cfg, db);
      let id = 0;
      const nextId = () => ++id;
      const insert =
        (table: string): Insert =>
        (r) =>
          conn.execute(`INSERT INTO ${table} (id, m, t, payload) VALUES (?, ?, ?, ?)`, [r.id, r.m, r.t, r.payload]);
      try {
        cfg.log(`capture-mysql: Syncline (MySQL adapter), TABLE_NAMES=cap_my, poll ${cfg.pollMs} ms, ${cfg.mysqlRate} writes/s`);
        const syncline = await startServer({
          label: 'capture-mysql',
          env: { ...serverEnv, TABLE_NAMES: 'cap_my' },
          ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
        });
        let syn: PhaseFigures[];
        try {
          const run = { server: syncline, mode: 'syncline', collection: 'cap_my', rates: [cfg.mysqlRate], nextId } as const;
          syn = await latencyRun(cfg, { ...run, connections: [insert('cap_my')], postgres: false, label: 'syncline' });
        } finally {
          await syncline.stop();
        }
        cfg.log(`capture-mysql: baseline, row trigger → cap_my_raw_log, polled every ${cfg.pollMs} ms → io.emit`);
        const env = {
          CAPTURE_MODE: 'mysql-poll',
          CAPTURE_MYSQL_HOST: cfg.mysql.host,
          CAPTURE_MYSQL_PORT: String(cfg.mysql.port),
          CAPTURE_MYSQL_USER: cfg.mysql.user,
          CAPTURE_MYSQL_PASSWORD: cfg.mysql.password,
          CAPTURE_MYSQL_DATABASE: db,
          CAPTURE_MYSQL_TABLE: 'cap_my_raw_log',
          CAPTURE_POLL_MS: String(cfg.pollMs),
        };
        const baseline = await startBaseline('capture-mysql-baseline', env, cfg.cpuProfDir);
        let base: PhaseFigures[];
        try {
          const run = { server: baseline, mode: 'baseline', collection: 'cap_my_raw', rates: [cfg.mysqlRate], nextId } as const;
          base = await latencyRun(cfg, { ...run, connections: [insert('cap_my_raw')], postgres: false, label: 'baseline' });
        } finally {
          await baseline.stop();
        }
        return latencyRows(name, syn[0] as PhaseFigures, base[0] as PhaseFigures, limit, label, {
          target: `Syncline p99 ≤ MYSQL_POLL_INTERVAL_MS (${cfg.pollMs}) + ${POLL_SLACK_MS} ms, receive − the writer's send time`,
          subscribers: cfg.subscribers,
          writerConnections: 1,
          warmupMs: cfg.warmupMs,
          measureMs: cfg.measureMs,
        });
      } finally {
        await conn.end();
      }
    } finally {
      if (!cfg.keep) await drop();
    }
  } catch (err) {
    cfg.log(
      `capture-mysql: ${err instanceof CorrectnessError || err instanceof NotAvailable ? err.message : ((err as Error).stack ?? String(err))}`,
    );
    return failedLatencyRows(name, limit, label, err);
  }
}

const MYSQL_INGEST_DDL = [
  `CREATE TABLE ing_watched (id BIGINT PRIMARY KEY, title VARCHAR(200) NOT NULL, qty INT NOT NULL, tags JSON NOT NULL,
                             done BOOLEAN NOT NULL, created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
  'CREATE TABLE ing_plain LIKE ing_watched',
];
const MYSQL_INGEST_TARGET = 0.8;

/** capture-ingest on MariaDB/MySQL: the same shapes and subscribers, writers through mysql2 (target 0.8). */
export async function captureIngestMysql(cfg: CaptureConfig, shapes: IngestShape[] = INGEST_SHAPES): Promise<Result[]> {
  const db = `${cfg.mysql.database}_ingest`;
  const label = ' (MariaDB)';
  const drop = () => mysqlExec(cfg, undefined, [`DROP DATABASE IF EXISTS \`${db}\``]);
  const maxWriters = Math.max(...shapes.map((s) => s.writers));
  try {
    await drop();
    await mysqlExec(cfg, undefined, [`CREATE DATABASE \`${db}\``]);
    try {
      await mysqlExec(cfg, db, MYSQL_INGEST_DDL);
      cfg.log(`capture-ingest${label}: Syncline (MySQL adapter) running with TABLE_NAMES=ing_watched, poll ${cfg.pollMs} ms`);
      const server = await startServer({
        label: 'capture-ingest-mysql',
        env: {
          ADAPTER: 'mysql',
          MYSQL_DATABASE: db,
          MYSQL_HOST: cfg.mysql.host,
          MYSQL_PORT: String(cfg.mysql.port),
          MYSQL_USERNAME: cfg.mysql.user,
          MYSQL_PASSWORD: cfg.mysql.password,
          MYSQL_POLL_INTERVAL_MS: String(cfg.pollMs),
          TABLE_NAMES: 'ing_watched',
          SYNCLINE_SOCKET_BUFFER_LIMIT: '1000000',
        },
        ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
      });
      const conns = await Promise.all(Array.from({ length: maxWriters }, () => mysqlConnect(cfg, db)));
      try {
        const ingest: IngestDb = {
          postgresCpu: false,
          async insert(w, table, rows) {
            const values = rows.id.map((id, i) => [
              id,
              rows.title[i] as string,
              rows.qty[i] as number,
              rows.tags[i] as string,
              rows.done[i] as boolean,
            ]);
            const c = conns[w] as MysqlConnection;
            const [r] = await (values.length === 1
              ? c.execute(`INSERT INTO ${table} (id, title, qty, tags, done) VALUES (?, ?, ?, ?, ?)`, values[0])
              : c.query(`INSERT INTO ${table} (id, title, qty, tags, done) VALUES ?`, [values]));
            const n = (r as { affectedRows?: number }).affectedRows;
            if (n !== rows.id.length) throw new CorrectnessError(`INSERT into ${table} wrote ${n} rows`);
          },
          begin: async (w) => void (await (conns[w] as MysqlConnection).query('BEGIN')),
          commit: async (w) => void (await (conns[w] as MysqlConnection).query('COMMIT')),
        };
        return await ingestShapes(cfg, server, ingest, shapes, label, MYSQL_INGEST_TARGET);
      } finally {
        await Promise.all(conns.map((c) => c.end()));
        await server.stop();
      }
    } finally {
      if (!cfg.keep) await drop();
    }
  } catch (err) {
    cfg.log(`capture-ingest${label}: ${err instanceof CorrectnessError ? err.message : ((err as Error).stack ?? String(err))}`);
    return shapes.map((shape) =>
      failed(`capture-ingest ${shapeName(shape)}${label}: watched ÷ unwatched`, 'rows/s', 'rows/s', MYSQL_INGEST_TARGET, err),
    );
  }
}
