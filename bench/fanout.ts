/**
 * Real-time delivery scenarios, Syncline's `/sync` namespace against a bare
 * Socket.IO server (bench/fanout-baseline-server.ts) measured in the same run.
 *
 *   fanout  N subscribed clients (a separate process, bench/fanout-clients.ts)
 *           while one writer in the bench process POSTs single-insert
 *           /operations at a paced rate. Figures: deliveries/s (changes
 *           received by all clients together, per second, inside the measured
 *           window) and commit-to-delivery latency p50/p99 (client receive
 *           time minus the change's `timestamp`: Syncline's commit/sequencing
 *           time, the baseline's emit time). Every client must receive every
 *           change exactly once, without a gap in the from/position chain,
 *           else CorrectnessError.
 *   memory  RSS growth of the server process per idle subscribed connection
 *           (after forced full GCs, bench/gc-hook.mjs), vs the bare server's.
 *
 * Reading the figures (details in latest.json, per phase, and the log lines):
 *   - The writer keeps at most 64 requests unanswered and skips writes falling
 *     due beyond that (`skippedWrites`, `achievedWriteRate`): a server that
 *     cannot take the rate gets fewer writes instead of a queue in the bench.
 *     The baseline emits inside its POST handler, so when fanout saturates it,
 *     its intake slows down and its queue sits before its timestamp.
 *     `e2eP50/e2eP99` (from the writer's send time) show that queue.
 *   - `probeP50/probeP99`: one more subscriber in the (idle) bench process,
 *     last in broadcast order: the server's side of the latency, without the
 *     client process's queue.
 *   - `cpuCores.clients` near 1.0 means the client process is the bottleneck,
 *     and latency is mostly its backlog.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import type { ClientsConfig, ClientsReport, ClientsStatus, FromClients, ToClients } from './fanout-clients.js';
import {
  admin,
  CorrectnessError,
  machineCpu,
  now,
  postgresCpuSeconds,
  processCpuSeconds,
  ROOT,
  round,
  type ServerChild,
  sleep,
  startServer,
} from './harness.js';
import { failed, type Result, result, resultAtMost } from './report.js';

export interface FanoutConfig {
  databaseUrl: string;
  /** Subscribed client counts, one run each. */
  clients: number[];
  /** Writes per second, one phase each per client count. */
  rates: number[];
  warmupMs: number;
  measureMs: number;
  /** Longest wait, after the last write, for every client to have every change. */
  drainMs: number;
  /**
   * Informational `onTimePerSecond`: deliveries of the changes written in the
   * measured window that arrive before its end plus this grace.
   */
  graceMs: number;
  keep: boolean;
  /** Extra environment of the Syncline server child (diagnostics, e.g. DATABASE_POOL_SIZE). */
  serverEnv?: Record<string, string>;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

export interface MemoryConfig {
  clients: number;
  /** Upper bound on KiB of server RSS per connection. */
  targetKiB: number;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

const FANOUT_SCHEMA = 'bench_fanout';
const CLIENTS_SCRIPT = join(ROOT, 'bench/fanout-clients.ts');
const BASELINE_SCRIPT = join(ROOT, 'bench/fanout-baseline-server.ts');
const GC_HOOK = join(ROOT, 'bench/gc-hook.mjs');
/** Targets: deliveries/s ≥ 1.0× baseline; p99 ≤ 1.5× baseline p99 + 10 ms (memory: MemoryConfig.targetKiB). */
const RATE_TARGET = 1.0;
const P99_FACTOR = 1.5;
const P99_SLACK_MS = 10;

const wall = () => performance.timeOrigin + performance.now();
const CLK_TCK = 100;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// ---------------------------------------------------------------- baseline server child

/** The bare Socket.IO server as a child process (the same lifecycle as Syncline's). */
function startBaselineServer(label: string, env: Record<string, string>, cpuProfDir?: string): Promise<ServerChild> {
  return startServer({ label, env, sockets: 64, command: ['--import', 'tsx', BASELINE_SCRIPT], ...(cpuProfDir ? { cpuProfDir } : {}) });
}

// ---------------------------------------------------------------- client process

/** The subscriber clients' child process (bench/fanout-clients.ts); also used by bench/routing.ts. */
export class ClientsProcess {
  private waiting = new Map<string, (m: FromClients) => void>();
  private fatal: string | undefined;
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly clients: number,
  ) {
    children.add(child);
    this.exit = new Promise((res) =>
      child.on('exit', (code) => {
        this.exited = true;
        children.delete(child);
        this.fatal ??= `client process exited (code ${code})`;
        for (const w of this.waiting.values()) w({ type: 'fatal', message: this.fatal });
        this.waiting.clear();
        res();
      }),
    );
    child.on('message', (m: FromClients) => {
      if (m.type === 'fatal') this.fatal = m.message;
      const key = m.type === 'fatal' ? [...this.waiting.keys()][0] : m.type;
      const w = key === undefined ? undefined : this.waiting.get(key);
      if (key !== undefined) this.waiting.delete(key);
      w?.(m);
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Spawns the client process and resolves once every client is connected (and subscribed). */
  static async start(
    cfg: ClientsConfig,
    cpuProfDir?: string,
    profLabel = `fanout-clients-${cfg.mode}-${cfg.clients}`,
  ): Promise<{ proc: ClientsProcess; seconds: number; position: number }> {
    const prof = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProfDir, profLabel)}`] : [];
    const child = spawn(process.execPath, [...prof, '--import', 'tsx', CLIENTS_SCRIPT, JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const proc = new ClientsProcess(child, cfg.clients);
    // Thousands of clients each signing and subscribing take a while on 2 cores.
    const ready = await proc.wait('ready', 300_000);
    if (ready.type !== 'ready') {
      await proc.stop();
      throw new Error(`client process: ${ready.type === 'fatal' ? ready.message : 'no ready'}`);
    }
    return { proc, seconds: ready.seconds, position: ready.position };
  }

  private wait(type: string, timeoutMs: number): Promise<FromClients> {
    if (this.exited) return Promise.resolve({ type: 'fatal', message: this.fatal ?? 'client process exited' });
    return new Promise((res) => {
      const timer = setTimeout(() => {
        this.waiting.delete(type);
        res({ type: 'fatal', message: `client process: no ${type} within ${timeoutMs / 1000} s` });
      }, timeoutMs);
      this.waiting.set(type, (m) => {
        clearTimeout(timer);
        res(m);
      });
    });
  }

  private async ask<T extends FromClients>(msg: ToClients & { type: T['type'] }): Promise<T> {
    const answer = this.wait(msg.type, 60_000);
    this.child.send(msg);
    const m = await answer;
    if (m.type === 'fatal') throw new Error(m.message);
    return m as T;
  }

  /** `cyclicTotal`: also count clients short of / over their share of that many changes (routing). */
  status(cyclicTotal?: number): Promise<ClientsStatus> {
    return this.ask<ClientsStatus>(cyclicTotal === undefined ? { type: 'status' } : { type: 'status', cyclicTotal });
  }

  report(): Promise<ClientsReport> {
    return this.ask<ClientsReport>({ type: 'report' });
  }

  phase(phase: number, from: number, to: number, until: number): void {
    this.child.send({ type: 'phase', phase, from, to, until } satisfies ToClients);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.send({ type: 'exit' } satisfies ToClients);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- paced writer

interface PushReply {
  results: { id: string; status: string }[];
}

export interface WriterResult {
  /** Writes sent (and applied), in all and inside the measured window. */
  writes: number;
  measuredWrites: number;
  /** Writes of the schedule not sent because `maxInFlight` requests were still unanswered. */
  skipped: number;
  /** Send time of the writes' schedule, wall clock: the measured window. */
  windowFrom: number;
  windowTo: number;
  /** Writes/s sent over the whole phase. */
  achievedRate: number;
  /** Request latency of the writes, ms. */
  writeP50: number;
  writeP99: number;
  /** CPU cores used during the measured window. */
  cpu: Record<string, number>;
}

let writeSeq = 0;
const writerId = `fan-writer-${Date.now().toString(36)}`;

/** Unanswered writes at most; a write falling due beyond that is skipped (and counted). */
export const MAX_IN_FLIGHT = 64;

/**
 * Writes `rate`/s single-insert POST /operations on a fixed schedule (open
 * loop: a slow answer does not delay the next write) for warmupMs + measureMs.
 * A server that cannot take the rate gets at most MAX_IN_FLIGHT requests
 * outstanding; the writes falling due meanwhile are skipped, so a queue does
 * not build up in the writer (the achieved rate is reported).
 * Documents written in the measured window carry `m: phase`, the others `m: 0`.
 */
export async function pacedWrites(
  server: ServerChild,
  collection: string,
  rate: number,
  warmupMs: number,
  measureMs: number,
  phase: number,
  procs: { clients: number; postgres: boolean },
  onWindow: (from: number, to: number) => void,
  opts: {
    /** Sends a push (default: the server's JsonClient, no credentials). */
    post?: (body: unknown) => Promise<PushReply>;
    /** Fields of the i-th write sent in this call (routing spreads rows over users by i). */
    data?: (i: number) => Record<string, unknown>;
  } = {},
): Promise<WriterResult> {
  const post = opts.post ?? ((body: unknown) => server.client.post<PushReply>('/operations', body));
  const total = Math.round(((warmupMs + measureMs) * rate) / 1000);
  const warm = Math.round((warmupMs * rate) / 1000);
  const t0 = now() + 20;
  const w0 = wall() + 20;
  const windowFrom = w0 + warmupMs;
  const windowTo = windowFrom + measureMs;
  onWindow(windowFrom, windowTo);
  const lat: number[] = [];
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  let sent = 0;
  let measuredSent = 0;
  let skipped = 0;

  const sample = () => ({
    server: processCpuSeconds(server.pid),
    clients: processCpuSeconds(procs.clients),
    postgres: procs.postgres ? postgresCpuSeconds() : 0,
    bench: process.cpuUsage(),
    machine: machineCpu().busy / CLK_TCK,
    t: now(),
  });
  let cpu0: ReturnType<typeof sample> | undefined;
  let cpu1: ReturnType<typeof sample> | undefined;
  const sampler = (async () => {
    await sleep(t0 + warmupMs - now());
    cpu0 = sample();
    await sleep(t0 + warmupMs + measureMs - now());
    cpu1 = sample();
  })();

  const fire = (k: number) => {
    if (pending.size >= MAX_IN_FLIGHT) {
      skipped++;
      return;
    }
    const i = sent++;
    if (k >= warm) measuredSent++;
    const seq = writeSeq++;
    const opId = `${writerId}-op${seq}`;
    const body = {
      clientId: writerId,
      operations: [
        {
          id: opId,
          type: 'insert',
          collection,
          docId: `${writerId}-d${seq}`,
          data: { ...opts.data?.(i), n: seq, t: Date.now(), m: k >= warm ? phase : 0 },
        },
      ],
    };
    const a = now();
    const p: Promise<void> = post(body)
      .then((reply) => {
        const r = reply.results?.[0];
        if (reply.results?.length !== 1 || r?.status !== 'applied' || r.id !== opId) {
          throw new CorrectnessError(`write ${opId} was not applied: ${JSON.stringify(reply).slice(0, 300)}`);
        }
        lat.push(now() - a);
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };

  let k = 0;
  while (k < total && failure === undefined) {
    const due = Math.min(total, Math.floor(((now() - t0) * rate) / 1000) + 1);
    while (k < due) fire(k++);
    await sleep(Math.max(0, t0 + (k * 1000) / rate - now()));
  }
  const scheduleEnd = now();
  await Promise.all(pending);
  await sampler;
  if (failure) throw failure;
  lat.sort((x, y) => x - y);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  const cpu: Record<string, number> = {};
  if (cpu0 && cpu1) {
    const s = (cpu1.t - cpu0.t) / 1000;
    cpu.server = round((cpu1.server - cpu0.server) / s, 3);
    cpu.clients = round((cpu1.clients - cpu0.clients) / s, 3);
    if (procs.postgres) cpu.postgres = round((cpu1.postgres - cpu0.postgres) / s, 3);
    cpu.bench = round((cpu1.bench.user + cpu1.bench.system - cpu0.bench.user - cpu0.bench.system) / 1e6 / s, 3);
    cpu.machine = round((cpu1.machine - cpu0.machine) / s, 3);
    // Busy cores not accounted to the processes above (kernel softirq work, other programs): noise when large.
    cpu.other = round(cpu.machine - cpu.server - cpu.clients - (cpu.postgres ?? 0) - cpu.bench, 3);
  }
  return {
    writes: sent,
    measuredWrites: measuredSent,
    skipped,
    windowFrom,
    windowTo,
    achievedRate: (sent * 1000) / (scheduleEnd - t0),
    writeP50: pct(0.5),
    writeP99: pct(0.99),
    cpu,
  };
}

/** Waits until every client has `expected` changes; a stall, an error or a lost client is a CorrectnessError. */
async function drain(proc: ClientsProcess, expected: number, maxMs: number, what: string): Promise<number> {
  const t0 = now();
  let lastTotal = -1;
  let lastProgress = now();
  for (;;) {
    const s = await proc.status();
    if (s.errors > 0) throw new CorrectnessError(`${what}: ${s.errors} protocol error(s); first: ${s.firstError}`);
    if (s.connected < proc.clients) throw new CorrectnessError(`${what}: ${proc.clients - s.connected} client(s) disconnected`);
    if (s.maxCount > expected)
      throw new CorrectnessError(`${what}: a client received ${s.maxCount} changes, only ${expected} were written`);
    if (s.minCount === expected) return now() - t0;
    if (s.totalCount !== lastTotal) {
      lastTotal = s.totalCount;
      lastProgress = now();
    } else if (now() - lastProgress > 10_000) {
      throw new CorrectnessError(`${what}: delivery stalled; some client has ${s.minCount} of ${expected} changes (no progress for 10 s)`);
    }
    if (now() - t0 > maxMs) {
      throw new CorrectnessError(
        `${what}: not every change delivered within ${maxMs / 1000} s of the last write (${s.minCount} of ${expected} at the slowest client, ` +
          `${Math.round((100 * s.totalCount) / (expected * proc.clients))} % of all deliveries)`,
      );
    }
    await sleep(200);
  }
}

// ---------------------------------------------------------------- probe

interface ProbeFrame {
  subscriptionId: string;
  changes: { position: number; timestamp: number; data: { m?: number } | null }[];
  from: number;
  position: number;
}

/**
 * One more subscriber, in the bench process (nearly idle) and connected after
 * the client process's sockets, so last in the server's broadcast order: its
 * latency is the server's side (plus the kernel) without the client process's
 * queue. Diagnostic only; it must get every change too.
 */
class Probe {
  private last = 0;
  count = 0;
  private phase = -1;
  private lat: number[] = [];
  error: string | undefined;

  private constructor(private readonly socket: Socket) {}

  static async connect(url: string, mode: 'syncline' | 'baseline', collection: string, startPosition: number): Promise<Probe> {
    const socket = io(mode === 'syncline' ? `${url}/sync` : `${url}/`, { transports: ['websocket'], forceNew: true, reconnection: false });
    const probe = new Probe(socket);
    probe.last = startPosition;
    await new Promise<void>((res, rej) => {
      socket.once('connect', () => res());
      socket.once('connect_error', rej);
    });
    let subscriptionId = 'baseline';
    if (mode === 'syncline') {
      const ack = (await socket.timeout(30_000).emitWithAck('subscribe', { collection })) as {
        ok: boolean;
        subscriptionId: string;
        position: number;
      };
      if (!ack.ok) throw new Error(`probe: subscribe answered ${JSON.stringify(ack)}`);
      subscriptionId = ack.subscriptionId;
      probe.last = ack.position;
    }
    socket.on('disconnect', (reason) => {
      probe.error ??= `probe disconnected (${reason})`;
    });
    socket.on('changes', (f: ProbeFrame) => {
      const t = wall();
      if (f.subscriptionId !== subscriptionId || f.from > probe.last) probe.error ??= `probe: gap or wrong subscription at ${f.from}`;
      for (const c of f.changes) {
        if (c.position <= probe.last) probe.error ??= `probe: change ${c.position} again`;
        probe.last = c.position;
        if (c.data?.m === probe.phase) probe.lat.push(t - c.timestamp);
      }
      probe.count += f.changes.length;
      probe.last = f.position;
    });
    return probe;
  }

  startPhase(phase: number): void {
    this.phase = phase;
    this.lat = [];
  }

  percentiles(): { p50: number; p99: number } {
    const l = [...this.lat].sort((a, b) => a - b);
    const pct = (p: number) => l[Math.min(l.length - 1, Math.floor(p * l.length))] ?? 0;
    return { p50: pct(0.5), p99: pct(0.99) };
  }

  close(): void {
    this.socket.disconnect();
  }
}

// ---------------------------------------------------------------- fanout

interface PhaseFigures {
  /** Changes received by all clients together inside the measured window, per second. */
  deliveriesPerSecond: number;
  /** Clients × writes per second scheduled: what a server that keeps up delivers. */
  offeredPerSecond: number;
  /** Deliveries of the changes written in the window that arrived by its end + graceMs, per second. */
  onTimePerSecond: number;
  p50: number;
  p99: number;
  max: number;
  changesPerFrame: number;
  writes: number;
  skippedWrites: number;
  achievedWriteRate: number;
  writeP50ms: number;
  writeP99ms: number;
  drainMs: number;
  /** Writer's send time to client receipt (includes the write's own path and any queue before the server's timestamp). */
  e2eP50: number;
  e2eP99: number;
  /** Latency at the probe subscriber in the bench process (server side, without the client process's queue). */
  probeP50: number;
  probeP99: number;
  cpuCores: Record<string, number>;
}

/** One client process of `clients` sockets against one server, through every rate. */
async function fanoutRun(
  cfg: FanoutConfig,
  server: ServerChild,
  mode: 'syncline' | 'baseline',
  clients: number,
): Promise<{ connectSeconds: number; phases: PhaseFigures[] }> {
  const label = `${mode} ${clients.toLocaleString('en-US')} clients`;
  const collection = 'fan';
  // The baseline server numbers its frames from its start: new clients begin at its current position.
  const startPosition =
    mode === 'baseline' ? (await server.client.request<{ position: number }>('GET', '/health')).body.position : undefined;
  const url = `http://127.0.0.1:${server.port}`;
  const { proc, seconds } = await ClientsProcess.start(
    { url, clients, mode, collection, ...(startPosition === undefined ? {} : { startPosition }) },
    cfg.cpuProfDir,
  );
  cfg.log(`  ${label}: connected${mode === 'syncline' ? ' and subscribed' : ''} in ${seconds.toFixed(1)} s`);
  const phases: PhaseFigures[] = [];
  let probe: Probe | undefined;
  try {
    probe = await Probe.connect(url, mode, collection, startPosition ?? 0);
    let written = 0;
    for (const [i, rate] of cfg.rates.entries()) {
      const phase = i + 1;
      const w = await pacedWrites(
        server,
        collection,
        rate,
        cfg.warmupMs,
        cfg.measureMs,
        phase,
        { clients: proc.pid, postgres: mode === 'syncline' },
        (from, to) => {
          proc.phase(phase, from, to, to + cfg.graceMs);
          probe?.startPhase(phase);
        },
      );
      written += w.writes;
      if (w.skipped > 0) {
        cfg.log(`  ${label}: ${w.skipped} of ${w.writes + w.skipped} writes skipped (${MAX_IN_FLIGHT} requests were unanswered)`);
      }
      const drainMs = await drain(proc, written, cfg.drainMs, `${label} at ${rate} writes/s`);
      for (let t = 0; t < 50 && probe.count < written && !probe.error; t++) await sleep(100);
      if (probe.error || probe.count !== written) {
        throw new CorrectnessError(
          `${label} at ${rate} writes/s: ${probe.error ?? `the probe subscriber has ${probe.count} of ${written} changes`}`,
        );
      }
      const pp = probe.percentiles();
      const r = await proc.report();
      const measuredWrites = w.measuredWrites;
      if (r.measuredDeliveries !== clients * measuredWrites) {
        throw new CorrectnessError(
          `${label} at ${rate} writes/s: ${r.measuredDeliveries} measured deliveries, expected ${clients} × the measured writes`,
        );
      }
      const f: PhaseFigures = {
        deliveriesPerSecond: r.windowDeliveries / (cfg.measureMs / 1000),
        offeredPerSecond: clients * rate,
        onTimePerSecond: Math.round(r.onTimeDeliveries / (cfg.measureMs / 1000)),
        p50: r.p50,
        p99: r.p99,
        max: r.max,
        changesPerFrame: round(r.changesPerFrame, 2),
        writes: w.writes,
        skippedWrites: w.skipped,
        achievedWriteRate: round(w.achievedRate, 1),
        writeP50ms: round(w.writeP50, 1),
        writeP99ms: round(w.writeP99, 1),
        drainMs: Math.round(drainMs),
        e2eP50: round(r.e2eP50, 1),
        e2eP99: round(r.e2eP99, 1),
        probeP50: round(pp.p50, 1),
        probeP99: round(pp.p99, 1),
        cpuCores: w.cpu,
      };
      phases.push(f);
      cfg.log(
        `  ${label} at ${rate} writes/s: ${Math.round(f.deliveriesPerSecond).toLocaleString('en-US')} deliveries/s ` +
          `(offered ${Math.round(f.offeredPerSecond).toLocaleString('en-US')}), ` +
          `p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(1)} ms, ${f.changesPerFrame} changes/frame; ` +
          `probe p50 ${f.probeP50} / p99 ${f.probeP99} ms; from the write's send p50 ${f.e2eP50} / p99 ${f.e2eP99} ms; ` +
          `writes ${f.achievedWriteRate}/s; drained in ${(drainMs / 1000).toFixed(1)} s; CPU ${JSON.stringify(w.cpu)}`,
      );
    }
  } finally {
    probe?.close();
    await proc.stop();
  }
  return { connectSeconds: seconds, phases };
}

export async function fanout(cfg: FanoutConfig): Promise<Result[]> {
  await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${FANOUT_SCHEMA} CASCADE`));
  try {
    return await fanoutAll(cfg);
  } finally {
    if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${FANOUT_SCHEMA} CASCADE`));
  }
}

async function fanoutAll(cfg: FanoutConfig): Promise<Result[]> {
  const results: Result[] = [];
  const syncline = await startServer({
    label: 'fanout',
    env: {
      DATABASE_URL: cfg.databaseUrl,
      SYNCLINE_SCHEMA: FANOUT_SCHEMA,
      // Nothing may be dropped as a slow consumer: the check is that every client gets every change.
      SYNCLINE_SOCKET_BUFFER_LIMIT: '1000000',
      ...cfg.serverEnv,
    },
    sockets: 64,
    ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
  });
  try {
    const baseline = await startBaselineServer('fanout-baseline', {}, cfg.cpuProfDir);
    try {
      for (const n of cfg.clients) {
        cfg.log(`fanout: ${n.toLocaleString('en-US')} subscribed clients, writes at ${cfg.rates.join(' and ')}/s`);
        const names = cfg.rates.map((rate) => `fanout ${n >= 1000 ? `${n / 1000}k` : n} clients × ${rate} w/s`);
        let syn: Awaited<ReturnType<typeof fanoutRun>>;
        let base: Awaited<ReturnType<typeof fanoutRun>>;
        try {
          syn = await fanoutRun(cfg, syncline, 'syncline', n);
          base = await fanoutRun(cfg, baseline, 'baseline', n);
        } catch (err) {
          // A wrong delivery (or a run that broke down) fails this client count's rows; the next one still runs.
          cfg.log(`  ${err instanceof CorrectnessError ? err.message : ((err as Error).stack ?? String(err))}`);
          for (const name of names) {
            results.push(failed(`${name}: deliveries`, 'deliveries/s', 'deliveries/s', RATE_TARGET, err));
            results.push(failed(`${name}: p50`, 'ms', 'ms', null, err));
            results.push({ ...failed(`${name}: p99`, 'ms', 'ms', null, err), targetLabel: `≤ ${P99_FACTOR} × b + ${P99_SLACK_MS} ms` });
          }
          continue;
        }
        for (const [i, rate] of cfg.rates.entries()) {
          const s = syn.phases[i] as PhaseFigures;
          const b = base.phases[i] as PhaseFigures;
          const name = names[i] as string;
          const details = {
            clients: n,
            writesPerSecond: rate,
            warmupMs: cfg.warmupMs,
            measureMs: cfg.measureMs,
            syncline: { connectSeconds: round(syn.connectSeconds, 1), ...roundFigures(s) },
            baseline: { connectSeconds: round(base.connectSeconds, 1), ...roundFigures(b) },
          };
          const r = result(
            `${name}: deliveries`,
            s.deliveriesPerSecond,
            'deliveries/s',
            b.deliveriesPerSecond,
            'deliveries/s',
            RATE_TARGET,
            details,
          );
          // When both keep up, both deliver clients × writes, ± one write at the window's edges: the ratio as printed decides.
          r.pass = Math.round(r.ratio * 100) / 100 >= RATE_TARGET;
          results.push(r);
          results.push(result(`${name}: p50`, s.p50, 'ms', b.p50, 'ms', null));
          const limit = P99_FACTOR * b.p99 + P99_SLACK_MS;
          results.push(
            resultAtMost(`${name}: p99`, s.p99, 'ms', b.p99, 'ms', limit, `≤ ${limit.toFixed(1)} ms`, {
              target: `≤ ${P99_FACTOR} × baseline p99 + ${P99_SLACK_MS} ms`,
              probeP99ms: { syncline: s.probeP99, baseline: b.probeP99 },
              e2eP99ms: { syncline: s.e2eP99, baseline: b.e2eP99 },
            }),
          );
        }
      }
    } finally {
      await baseline.stop();
    }
  } finally {
    await syncline.stop();
  }
  return results;
}

const roundFigures = (f: PhaseFigures) => ({
  ...f,
  deliveriesPerSecond: Math.round(f.deliveriesPerSecond),
  p50ms: round(f.p50, 1),
  p99ms: round(f.p99, 1),
  maxMs: round(f.max, 1),
  p50: undefined,
  p99: undefined,
  max: undefined,
});

// ---------------------------------------------------------------- memory

/** VmRSS of a process, KiB. */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

interface MemorySample {
  rssKiB: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  mallocedMemory: number;
  totalHeapSize: number;
}

/** Full GCs in the child (bench/gc-hook.mjs), then RSS; repeated until two readings agree within 0.5 %. */
async function settledMemory(pid: number, gcFile: string): Promise<MemorySample> {
  let prev: MemorySample | undefined;
  for (let i = 0; i < 10; i++) {
    const before = existsSync(gcFile) ? (JSON.parse(readFileSync(gcFile, 'utf8')) as { count: number }).count : 0;
    process.kill(pid, 'SIGUSR2');
    let m: (MemorySample & { count: number }) | undefined;
    for (let t = 0; t < 100; t++) {
      await sleep(50);
      try {
        const j = JSON.parse(readFileSync(gcFile, 'utf8')) as MemorySample & { count: number };
        if (j.count > before) {
          m = j;
          break;
        }
      } catch {
        // not written yet, or half-written
      }
    }
    if (!m) throw new Error(`process ${pid} did not answer the GC signal (is bench/gc-hook.mjs preloaded?)`);
    await sleep(500);
    const cur: MemorySample = {
      rssKiB: rssKiB(pid),
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      mallocedMemory: m.mallocedMemory,
      totalHeapSize: m.totalHeapSize,
    };
    if (prev && Math.abs(cur.rssKiB - prev.rssKiB) <= prev.rssKiB * 0.005) return cur;
    prev = cur;
  }
  return prev as MemorySample;
}

async function memoryRun(
  cfg: MemoryConfig,
  server: ServerChild,
  gcFile: string,
  mode: 'syncline' | 'baseline',
): Promise<{ perConnKiB: number; before: MemorySample; after: MemorySample; connectSeconds: number }> {
  const url = `http://127.0.0.1:${server.port}`;
  // Warm-up: the code paths of a connection and a subscription run (and are compiled) before the first reading.
  const warm = await ClientsProcess.start({ url, clients: 100, mode, collection: 'idle' });
  await warm.proc.stop();
  await sleep(1000);
  const before = await settledMemory(server.pid, gcFile);
  const { proc, seconds } = await ClientsProcess.start({ url, clients: cfg.clients, mode, collection: 'idle' });
  try {
    await sleep(1000);
    const after = await settledMemory(server.pid, gcFile);
    const s = await proc.status();
    if (s.connected !== cfg.clients || s.errors > 0) {
      throw new CorrectnessError(`memory (${mode}): ${s.connected} of ${cfg.clients} connected, ${s.errors} error(s): ${s.firstError}`);
    }
    const perConnKiB = (after.rssKiB - before.rssKiB) / cfg.clients;
    cfg.log(
      `  ${mode}: RSS ${Math.round(before.rssKiB / 1024)} → ${Math.round(after.rssKiB / 1024)} MiB: ${perConnKiB.toFixed(1)} KiB per connection ` +
        `(heap ${((after.heapUsed - before.heapUsed) / 1024 / cfg.clients).toFixed(1)} KiB, ` +
        `external ${((after.external - before.external) / 1024 / cfg.clients).toFixed(1)} KiB)`,
    );
    return { perConnKiB, before, after, connectSeconds: seconds };
  } finally {
    await proc.stop();
  }
}

export async function memory(cfg: MemoryConfig): Promise<Result> {
  const name = `memory per idle subscribed connection (${cfg.clients.toLocaleString('en-US')})`;
  const dir = mkdtempSync(join(os.tmpdir(), 'syncline-bench-memory-'));
  const gcEnv = (file: string) => ({ NODE_OPTIONS: `--import=${GC_HOOK}`, BENCH_GC_FILE: join(dir, file) });
  try {
    cfg.log(`memory: Syncline (PGlite), ${cfg.clients.toLocaleString('en-US')} sockets subscribed to /sync {collection: 'idle'}`);
    const syncline = await startServer({
      label: 'memory',
      env: { SYNCLINE_DATA_DIR: join(dir, 'data'), ...gcEnv('syncline-gc.json') },
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    let syn: Awaited<ReturnType<typeof memoryRun>>;
    try {
      syn = await memoryRun(cfg, syncline, join(dir, 'syncline-gc.json'), 'syncline');
    } finally {
      await syncline.stop();
    }
    cfg.log(`memory: baseline, bare Socket.IO server, ${cfg.clients.toLocaleString('en-US')} idle sockets on /`);
    const baseline = await startBaselineServer('memory-baseline', gcEnv('baseline-gc.json'), cfg.cpuProfDir);
    let base: Awaited<ReturnType<typeof memoryRun>>;
    try {
      base = await memoryRun(cfg, baseline, join(dir, 'baseline-gc.json'), 'baseline');
    } finally {
      await baseline.stop();
    }
    const perConn = (r: typeof syn) => ({
      connectSeconds: round(r.connectSeconds, 1),
      rssBeforeMiB: round(r.before.rssKiB / 1024, 1),
      rssAfterMiB: round(r.after.rssKiB / 1024, 1),
      rssKiB: round(r.perConnKiB, 2),
      heapUsedKiB: round((r.after.heapUsed - r.before.heapUsed) / 1024 / cfg.clients, 2),
      /** V8 heap reserved (used + free): grows less than heapUsed when the heap had free room before. */
      heapTotalKiB: round((r.after.totalHeapSize - r.before.totalHeapSize) / 1024 / cfg.clients, 2),
      externalKiB: round((r.after.external - r.before.external) / 1024 / cfg.clients, 2),
      arrayBuffersKiB: round((r.after.arrayBuffers - r.before.arrayBuffers) / 1024 / cfg.clients, 2),
      mallocedKiB: round((r.after.mallocedMemory - r.before.mallocedMemory) / 1024 / cfg.clients, 2),
    });
    return resultAtMost(name, syn.perConnKiB, 'KiB', base.perConnKiB, 'KiB', cfg.targetKiB, `≤ ${cfg.targetKiB} KiB`, {
      clients: cfg.clients,
      perConnection: { syncline: perConn(syn), baseline: perConn(base) },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
