/**
 * Cross-instance delivery over the event bus (issue 6), per bus (Redis, NATS,
 * RabbitMQ, PostgreSQL), beside single-instance delivery measured at the same
 * time on the same writes.
 *
 *   cluster  Two server processes (`startCluster`, packages/server/test/cluster.ts;
 *           `--cluster-size=3` adds C) on one PostgreSQL schema, joined by the
 *           bus: A takes the writes, B gets A's change batches over the bus. One
 *           writer in the bench process inserts on A at a paced rate
 *           (bench/fanout.ts `pacedWrites`), `batch` inserts per POST
 *           /operations (default 10: 100 requests/s for 1,000 writes/s; one
 *           transaction, one change batch, one bus message each). A subscriber
 *           process (bench/fanout-clients.ts) on each instance subscribes to the
 *           collection: the one on A is the single-instance baseline (the process
 *           that sequenced the write delivers it itself), the one on B the
 *           cross-instance figure; both see the same writes in the same window.
 *           Latency = the subscriber's receive time − the change's `timestamp`
 *           (its sequencing/commit time, PostgreSQL's clock, whole ms; same
 *           machine), p50/p99 over the changes written in the measured window.
 *           Target: B's p99 ≤ A's p99 + 5 ms (with C, the slower of B and C).
 *           Every subscriber must get every change exactly once, in order,
 *           without a gap (else CorrectnessError).
 *
 * Reading the figures (latest.json details, and the log line per bus):
 *   - `busStats` per instance, during the run: `busBatches` taken from the
 *     bus; `readBatches` read from the change log (A: all of its own; B: when
 *     its own sweep sequenced one of A's transactions and the bus did not bring
 *     it within 20 ms, a hint not followed by the bus within
 *     SYNCLINE_BUS_GRACE_MS, a gap, or the 1 s poll got there first);
 *     `published`, `dropped`, `busGaps`.
 *   - `e2eP50/e2eP99`: from the writer's send time (Date.now() in the document),
 *     so it also has the wait for a batch to fill and the write's own path.
 *   - `cpuCores`: per process during the measured window (A, B, each subscriber
 *     process, PostgreSQL, the bus service, the bench); `other` is the rest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { type Instance, startCluster } from '../packages/server/test/cluster.js';
import { amqpUrl, natsUrl, redisUrl } from '../test/services.js';
import { ClientsProcess, MAX_IN_FLIGHT, pacedWrites, type WriterResult } from './fanout.js';
import type { ClientsReport, ClientsStatus } from './fanout-clients.js';
import {
  admin,
  CorrectnessError,
  JsonClient,
  LOAD_TEST_LIMITS,
  now,
  processCpuSeconds,
  round,
  type ServerChild,
  sleep,
} from './harness.js';
import { failed, type Result, result, resultAtMost } from './report.js';
import type { RoutingConfig } from './routing.js';

export type BusKind = 'redis' | 'nats' | 'amqp' | 'postgres';
export const BUS_KINDS: BusKind[] = ['redis', 'nats', 'amqp', 'postgres'];

/** Shared with the routing scenario: database, write rate, warm-up/measure/drain times, profiles, log. */
export interface ClusterConfig
  extends Pick<RoutingConfig, 'databaseUrl' | 'rate' | 'warmupMs' | 'measureMs' | 'drainMs' | 'cpuProfDir' | 'log'> {
  buses: BusKind[];
  /** Server processes per cluster (≥ 2): A takes the writes (`rate`/s), the others deliver over the bus. */
  size: number;
  /** Inserts per POST /operations (one transaction, one change batch, one bus message). */
  batch: number;
  /** `/sync` sockets subscribed on each instance (one process per instance). */
  subscribers: number;
  serializer: 'json' | 'msgpack';
  /** Extra environment of every instance (diagnostics, e.g. SYNCLINE_BUS_GRACE_MS). */
  serverEnv?: Record<string, string>;
}

/** Cross-instance p99 ≤ single-instance p99 + this. */
const SLACK_MS = 5;
const COLLECTION = 'lat';
const PHASE = 1;
const BUS_LABEL: Record<BusKind, string> = { redis: 'Redis', nats: 'NATS', amqp: 'RabbitMQ', postgres: 'PostgreSQL' };
/** The bus service's processes (by /proc comm), for its CPU; PostgreSQL's is counted as `postgres`. */
const BUS_PROCESS: Record<BusKind, RegExp | null> = { redis: /^redis-server/, nats: /^nats-server/, amqp: /^beam\.smp/, postgres: null };
const wall = () => performance.timeOrigin + performance.now();
const instanceName = (i: number) => String.fromCharCode(65 + i);

function busUrl(cfg: ClusterConfig, kind: BusKind): string {
  return { redis: redisUrl, nats: natsUrl, amqp: amqpUrl, postgres: cfg.databaseUrl }[kind];
}

/** A cluster instance as the bench's ServerChild (its REST client; the cluster owns the process). */
function asServer(inst: Instance): ServerChild {
  const port = Number(new URL(inst.url).port);
  const pid = inst.process.pid as number;
  const client = new JsonClient(port, MAX_IN_FLIGHT);
  return { port, pid, client, cpuSeconds: () => processCpuSeconds(pid), stop: async () => client.close() };
}

function pidsByComm(pattern: RegExp | null): number[] {
  if (!pattern) return [];
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return pattern.test(readFileSync(`/proc/${entry}/comm`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** CPU cores each named group of processes used between wall-clock times `from` and `to`. */
async function cpuBetween(groups: Record<string, number[]>, from: number, to: number): Promise<Record<string, number>> {
  const take = () => Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((s, p) => s + processCpuSeconds(p), 0)]));
  await sleep(from - wall());
  const [a, t0] = [take(), now()];
  await sleep(to - wall());
  const [b, t1] = [take(), now()];
  return Object.fromEntries(Object.keys(groups).map((k) => [k, round(((b[k] ?? 0) - (a[k] ?? 0)) / ((t1 - t0) / 1000), 3)]));
}

type Post = NonNullable<NonNullable<Parameters<typeof pacedWrites>[8]>['post']>;
type PushReply = Awaited<ReturnType<Post>>;

/**
 * `pacedWrites` sends one insert per request on its schedule; this gathers `size` of them
 * (or what came within `maxWaitMs`) into one POST /operations, and answers each with its own result.
 */
function batchedPost(client: JsonClient, size: number, maxWaitMs: number): Post {
  let queue: { op: { id: string }; done: (reply: PushReply) => void; fail: (err: unknown) => void }[] = [];
  let clientId = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = queue;
    queue = [];
    client.post<PushReply>('/operations', { clientId, operations: batch.map((p) => p.op) }).then(
      (reply) => {
        const byId = new Map((reply.results ?? []).map((r) => [r.id, r]));
        for (const p of batch) {
          const r = byId.get(p.op.id);
          p.done({ results: r ? [r] : [] });
        }
      },
      (err: unknown) => {
        for (const p of batch) p.fail(err);
      },
    );
  };
  return (body) =>
    new Promise((done, fail) => {
      const push = body as { clientId: string; operations: [{ id: string }] };
      clientId = push.clientId;
      queue.push({ op: push.operations[0], done, fail });
      if (queue.length >= size) flush();
      else timer ??= setTimeout(flush, maxWaitMs);
    });
}

interface BusHealth {
  published: number;
  dropped: number;
  received: number;
  busBatches: number;
  readBatches: number;
  busGaps: number;
}

async function busHealth(server: ServerChild): Promise<BusHealth> {
  const r = await server.client.request<{ bus?: BusHealth & { state: string } }>('GET', '/health');
  if (r.body.bus?.state !== 'up') throw new Error(`bus not up on port ${server.port}: ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body.bus;
}

const healthDelta = (a: BusHealth, b: BusHealth) =>
  Object.fromEntries((['published', 'dropped', 'received', 'busBatches', 'readBatches', 'busGaps'] as const).map((k) => [k, b[k] - a[k]]));

interface Side {
  instance: string;
  proc: ClientsProcess;
}

/**
 * Waits until every subscriber on every instance has exactly `expected` changes.
 * A gap, a duplicate, a change too many, a lost socket or a stall is a CorrectnessError.
 */
async function drainSides(sides: Side[], expected: number, maxMs: number, what: string): Promise<number> {
  const t0 = now();
  let seen = '';
  let progress = now();
  for (;;) {
    const statuses: ClientsStatus[] = await Promise.all(sides.map((s) => s.proc.status()));
    const behind = statuses.filter((s, i) => {
      const side = sides[i] as Side;
      const where = `${what}, subscriber on ${side.instance}`;
      if (s.errors > 0) throw new CorrectnessError(`${where}: ${s.errors} gap/duplicate/protocol error(s); first: ${s.firstError}`);
      if (s.connected < side.proc.clients)
        throw new CorrectnessError(`${where}: ${side.proc.clients - s.connected} socket(s) disconnected`);
      if (s.maxCount > expected) throw new CorrectnessError(`${where}: ${s.maxCount} changes received, ${expected} written`);
      return s.minCount < expected;
    });
    if (behind.length === 0) return now() - t0;
    const counts = statuses.map((s) => s.totalCount).join(',');
    if (counts !== seen) [seen, progress] = [counts, now()];
    if (now() - progress > 10_000 || now() - t0 > maxMs) {
      const have = sides.map((s, i) => `${s.instance} ${statuses[i]?.minCount}`).join(', ');
      throw new CorrectnessError(
        `${what}: not every change delivered (${have} of ${expected}) ${Math.round((now() - t0) / 1000)} s after the last write`,
      );
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------- one bus

/** One subscriber process's figures (bench/fanout-clients.ts report). */
type SideFigures = Pick<ClientsReport, 'p50' | 'p99' | 'max' | 'e2eP50' | 'e2eP99' | 'changesPerFrame' | 'measuredDeliveries'>;

interface BusFigures {
  startSeconds: number;
  /** By instance: A (single-instance baseline), B, … (over the bus). */
  sides: Record<string, SideFigures>;
  writes: number;
  measuredWrites: number;
  skippedWrites: number;
  achievedWriteRate: number;
  writeP50ms: number;
  writeP99ms: number;
  drainMs: number;
  busStats: Record<string, Record<string, number>>;
  cpuCores: Record<string, number>;
}

const sideFigures = (r: ClientsReport): SideFigures => ({
  p50: r.p50,
  p99: r.p99,
  max: r.max,
  e2eP50: r.e2eP50,
  e2eP99: r.e2eP99,
  changesPerFrame: round(r.changesPerFrame, 2),
  measuredDeliveries: r.measuredDeliveries,
});

async function busRun(cfg: ClusterConfig, kind: BusKind): Promise<BusFigures> {
  const label = `cluster ${BUS_LABEL[kind]}`;
  const t0 = now();
  const cluster = await startCluster({
    busUrl: busUrl(cfg, kind),
    busName: `bench-${kind}-${Date.now().toString(36)}`,
    serializer: cfg.serializer,
    size: cfg.size,
    env: {
      ...LOAD_TEST_LIMITS,
      DATABASE_URL: cfg.databaseUrl,
      // Nothing may be dropped as a slow consumer: the check is that every subscriber gets every change.
      SYNCLINE_SOCKET_BUFFER_LIMIT: '1000000',
      ...cfg.serverEnv,
    },
  });
  const servers = cluster.instances.map(asServer);
  const sides: Side[] = [];
  try {
    const startSeconds = (now() - t0) / 1000;
    const started = await Promise.allSettled(
      cluster.instances.map((inst, i) =>
        ClientsProcess.start(
          { url: inst.url, clients: cfg.subscribers, mode: 'syncline', collection: COLLECTION },
          cfg.cpuProfDir,
          `cluster-clients-${kind}-${instanceName(i)}`,
        ),
      ),
    );
    // Those that started are stopped below even when another one did not.
    for (const [i, s] of started.entries()) if (s.status === 'fulfilled') sides.push({ instance: instanceName(i), proc: s.value.proc });
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    cfg.log(`  ${label}: ${cfg.size} instances up in ${startSeconds.toFixed(1)} s; ${cfg.subscribers} subscriber(s) on each`);
    const a = servers[0] as ServerChild;
    const health0 = await Promise.all(servers.map(busHealth));
    const window: { cpu?: Promise<Record<string, number>> } = {};
    const w: WriterResult = await pacedWrites(
      a,
      COLLECTION,
      cfg.rate,
      cfg.warmupMs,
      cfg.measureMs,
      PHASE,
      { clients: (sides[1] as Side).proc.pid, postgres: true },
      (from, to) => {
        for (const s of sides) s.proc.phase(PHASE, from, to, to + 250);
        const groups: Record<string, number[]> = { bus: pidsByComm(BUS_PROCESS[kind]) };
        for (const [i, srv] of servers.entries()) groups[`server${instanceName(i)}`] = [srv.pid];
        for (const s of sides) groups[`clients${s.instance}`] = [s.proc.pid];
        window.cpu = cpuBetween(groups, from, to);
      },
      { post: batchedPost(a.client, cfg.batch, Math.max(1, (cfg.batch * 1000) / cfg.rate)) },
    );
    if (w.skipped > 0)
      cfg.log(`  ${label}: ${w.skipped} of ${w.writes + w.skipped} writes skipped (${MAX_IN_FLIGHT} requests were unanswered)`);
    const drainMs = await drainSides(sides, w.writes, cfg.drainMs, `${label} at ${cfg.rate} writes/s`);
    const health1 = await Promise.all(servers.map(busHealth));
    const figures: Record<string, SideFigures> = {};
    for (const s of sides) {
      const r = await s.proc.report();
      if (r.measuredDeliveries !== cfg.subscribers * w.measuredWrites) {
        throw new CorrectnessError(
          `${label}, subscriber on ${s.instance}: ${r.measuredDeliveries} measured deliveries, expected ${cfg.subscribers} × ${w.measuredWrites} measured writes`,
        );
      }
      figures[s.instance] = sideFigures(r);
    }
    // The writer's figures for A and one subscriber process are in `window.cpu` too, by instance.
    const shared = Object.entries(w.cpu).filter(([k]) => k !== 'server' && k !== 'clients');
    const cpuCores: Record<string, number> = { ...(await window.cpu), ...Object.fromEntries(shared) };
    const accounted = Object.entries(cpuCores).reduce((sum, [k, v]) => (k === 'machine' || k === 'other' ? sum : sum + v), 0);
    cpuCores.other = round((cpuCores.machine ?? 0) - accounted, 3);
    return {
      startSeconds: round(startSeconds, 1),
      sides: figures,
      writes: w.writes,
      measuredWrites: w.measuredWrites,
      skippedWrites: w.skipped,
      achievedWriteRate: round(w.achievedRate, 1),
      writeP50ms: round(w.writeP50, 1),
      writeP99ms: round(w.writeP99, 1),
      drainMs: Math.round(drainMs),
      busStats: Object.fromEntries(servers.map((_, i) => [instanceName(i), healthDelta(health0[i] as BusHealth, health1[i] as BusHealth)])),
      cpuCores,
    };
  } finally {
    await Promise.all(sides.map((s) => s.proc.stop()));
    for (const s of servers) await s.stop();
    await cluster.close();
    // The cluster drops its schema through the tests' database URL; make sure it is gone from the bench's.
    await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${cluster.schema} CASCADE`));
  }
}

// ---------------------------------------------------------------- scenario

export async function cluster(cfg: ClusterConfig): Promise<Result[]> {
  if (cfg.size < 2) throw new Error('cluster: size must be at least 2');
  const remote = Array.from({ length: cfg.size - 1 }, (_, i) => instanceName(i + 1)).join('/');
  cfg.log(
    `cluster: ${cfg.size} instances per bus, inserts to A at ${cfg.rate}/s, ${cfg.batch} per POST /operations; latency = receive − the change's sequencing (commit) timestamp, ` +
      `on ${remote} (over the bus) vs on A (single-instance, the same writes); target p99 ≤ A's p99 + ${SLACK_MS} ms`,
  );
  const results: Result[] = [];
  for (const kind of cfg.buses) {
    const name = `cluster ${BUS_LABEL[kind]} × ${cfg.rate} w/s (${cfg.batch}/POST), ${remote} vs A`;
    let f: BusFigures;
    try {
      f = await busRun(cfg, kind);
    } catch (err) {
      // A wrong delivery (or a bus that could not run) fails this bus's rows; the next bus still runs.
      cfg.log(`  ${err instanceof CorrectnessError ? err.message : ((err as Error).stack ?? String(err))}`);
      results.push(failed(`${name}: p50`, 'ms', 'ms', null, err));
      results.push({ ...failed(`${name}: p99`, 'ms', 'ms', null, err), targetLabel: `≤ b + ${SLACK_MS} ms` });
      continue;
    }
    const base = f.sides.A as SideFigures;
    // The cross-instance figures are the slowest other instance's (with more than two instances).
    const others = Object.entries(f.sides).filter(([k]) => k !== 'A');
    const worst = { p50: Math.max(...others.map(([, s]) => s.p50)), p99: Math.max(...others.map(([, s]) => s.p99)) };
    const diff = worst.p99 - base.p99;
    const limit = base.p99 + SLACK_MS;
    const pass = diff <= SLACK_MS;
    const figs = Object.entries(f.sides)
      .map(
        ([k, s]) =>
          `${k} p50 ${s.p50.toFixed(1)} / p99 ${s.p99.toFixed(1)} / max ${s.max.toFixed(1)} ms (from send p99 ${s.e2eP99.toFixed(1)})`,
      )
      .join('; ');
    cfg.log(
      `  ${BUS_LABEL[kind]}: ${figs}; p99 difference ${diff >= 0 ? '+' : ''}${diff.toFixed(1)} ms (target ≤ +${SLACK_MS}) ${pass ? 'PASS' : 'FAIL'}; ` +
        `writes ${f.achievedWriteRate}/s (p99 ${f.writeP99ms} ms); bus ${JSON.stringify(f.busStats)}; drained in ${(f.drainMs / 1000).toFixed(1)} s; ` +
        `CPU ${JSON.stringify(f.cpuCores)}`,
    );
    const rounded = Object.fromEntries(
      Object.entries(f.sides).map(([k, s]) => [
        k,
        { ...s, p50: round(s.p50, 1), p99: round(s.p99, 1), max: round(s.max, 1), e2eP50: round(s.e2eP50, 1), e2eP99: round(s.e2eP99, 1) },
      ]),
    );
    const details = {
      bus: kind,
      serializer: cfg.serializer,
      instances: cfg.size,
      subscribersPerInstance: cfg.subscribers,
      writesPerSecond: cfg.rate,
      writesPerPost: cfg.batch,
      warmupMs: cfg.warmupMs,
      measureMs: cfg.measureMs,
      latency: "subscriber receive time − the change's timestamp (sequencing/commit time, database clock)",
      ...f,
      sides: rounded,
      p99DifferenceMs: round(diff, 1),
    };
    results.push(result(`${name}: p50`, worst.p50, 'ms', base.p50, 'ms', null));
    results.push(
      resultAtMost(`${name}: p99`, worst.p99, 'ms', base.p99, 'ms', limit, `≤ b + ${SLACK_MS} = ${limit.toFixed(1)} ms`, details),
    );
  }
  return results;
}
