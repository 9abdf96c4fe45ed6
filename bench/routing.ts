import http from 'node:http';
import { SignJWT } from 'jose';
import { ClientsProcess, MAX_IN_FLIGHT, pacedWrites } from './fanout.js';
import { admin, CorrectnessError, now, round, sleep, startServer } from './harness.js';
import { failed, type Result, result } from './report.js';

export interface RoutingConfig {
  databaseUrl: string;
  /** Connected users, one socket and one subscription each. */
  users: number;
  /** Writes per second, spread over all users in turn. */
  rate: number;
  warmupMs: number;
  measureMs: number;
  /** Longest wait, after the last write, for every user to have its rows. */
  drainMs: number;
  keep: boolean;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

/** Routed deliveries/s ≥ this × unrouted. */
const TARGET = 0.8;
const COLLECTION = 'notes';
const SECRET = 'syncline-bench-routing-secret-0123456789';
const PREFIX = 'user';
const _CLK_TCK = 100;
const _wall = () => performance.timeOrigin + performance.now();

type Mode = 'routed' | 'unrouted';
const RULES: Record<Mode, unknown> = {
  routed: { [COLLECTION]: { read: { field: 'owner' }, write: '*' } },
  unrouted: { [COLLECTION]: { read: '*', write: '*' } },
};
const schemaOf = (mode: Mode) => `bench_routing_${mode}`;

// ---------------------------------------------------------------- authenticated writer

/** POST with a bearer token (harness's JsonClient sends no Authorization header); must answer 200. */
function postJson<T>(agent: http.Agent, port: number, token: string, path: string, body: unknown): Promise<T> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((res, rej) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('error', rej);
        r.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (r.statusCode !== 200) {
            rej(new CorrectnessError(`POST ${path} answered ${r.statusCode}: ${text.slice(0, 500)}`));
            return;
          }
          try {
            res(JSON.parse(text) as T);
          } catch (err) {
            rej(new Error(`invalid JSON from POST ${path}: ${(err as Error).message}`));
          }
        });
      },
    );
    req.on('error', rej);
    req.setTimeout(120_000, () => req.destroy(new Error(`POST ${path}: no answer within 120 s`)));
    req.end(payload);
  });
}

/** Waits until every user has exactly its share of `written`; an error, a lost client or a stall is a CorrectnessError. */
async function drain(proc: ClientsProcess, written: number, maxMs: number, what: string): Promise<number> {
  const t0 = now();
  let lastTotal = -1;
  let lastProgress = now();
  for (;;) {
    const s = await proc.status(written);
    if (s.errors > 0) throw new CorrectnessError(`${what}: ${s.errors} error(s); first: ${s.firstError}`);
    if (s.connected < proc.clients) throw new CorrectnessError(`${what}: ${proc.clients - s.connected} user(s) disconnected`);
    if ((s.over ?? 0) > 0) throw new CorrectnessError(`${what}: ${s.over} user(s) received more rows than were written for them`);
    if (s.short === 0) {
      if (s.totalCount !== written) throw new CorrectnessError(`${what}: ${s.totalCount} deliveries for ${written} rows`);
      return now() - t0;
    }
    if (s.totalCount !== lastTotal) {
      lastTotal = s.totalCount;
      lastProgress = now();
    } else if (now() - lastProgress > 10_000) {
      throw new CorrectnessError(`${what}: delivery stalled; ${s.short} user(s) miss rows, ${s.totalCount} of ${written} delivered`);
    }
    if (now() - t0 > maxMs) {
      throw new CorrectnessError(`${what}: ${s.short} user(s) still miss rows ${maxMs / 1000} s after the last write`);
    }
    await sleep(200);
  }
}

// ---------------------------------------------------------------- one mode

interface ModeFigures {
  connectSeconds: number;
  deliveriesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  e2eP50: number;
  e2eP99: number;
  changesPerFrame: number;
  writes: number;
  skippedWrites: number;
  achievedWriteRate: number;
  writeP50ms: number;
  writeP99ms: number;
  drainMs: number;
  /** Server CPU microseconds per write sent in the measured window (write, sequencing, routing, sending). */
  serverMicrosPerWrite: number;
  cpuCores: Record<string, number>;
}

async function runMode(cfg: RoutingConfig, mode: Mode): Promise<ModeFigures> {
  const schema = schemaOf(mode);
  await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  const server = await startServer({
    label: `routing-${mode}`,
    env: {
      DATABASE_URL: cfg.databaseUrl,
      SYNCLINE_SCHEMA: schema,
      JWT_SECRET: SECRET,
      SYNCLINE_RULES: JSON.stringify(RULES[mode]),
      // Nothing may be dropped or refused: the check is that every user gets its rows.
      SYNCLINE_SOCKET_BUFFER_LIMIT: '1000000',
      SYNCLINE_RATE_LIMIT_PER_MINUTE: '0',
      SYNCLINE_SOCKET_EVENTS_PER_MINUTE: '0',
    },
    ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
  });
  const label = `routing ${mode}, ${cfg.users.toLocaleString('en-US')} users`;
  try {
    const url = `http://127.0.0.1:${server.port}`;
    const { proc, seconds } = await ClientsProcess.start(
      {
        url,
        clients: cfg.users,
        mode: 'syncline',
        collection: COLLECTION,
        users: { prefix: PREFIX, jwtSecret: SECRET, ownerField: 'owner', ...(mode === 'unrouted' ? { filterField: 'owner' } : {}) },
      },
      cfg.cpuProfDir,
      `routing-clients-${mode}`,
    );
    cfg.log(`  ${label}: connected and subscribed in ${seconds.toFixed(1)} s`);
    try {
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('writer').sign(new TextEncoder().encode(SECRET));
      const phase = 1;
      const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT, maxFreeSockets: MAX_IN_FLIGHT });
      // The i-th write sent belongs to user i mod N, so the rows are spread over the users in turn whatever is skipped.
      const w = await pacedWrites(
        server,
        COLLECTION,
        cfg.rate,
        cfg.warmupMs,
        cfg.measureMs,
        phase,
        { clients: proc.pid, postgres: true },
        (from, to) => proc.phase(phase, from, to, to + 250),
        { post: (body) => postJson(agent, server.port, token, '/operations', body), data: (i) => ({ owner: `${PREFIX}${i % cfg.users}` }) },
      ).finally(() => agent.destroy());
      if (w.skipped > 0) cfg.log(`  ${label}: ${w.skipped} of ${w.writes + w.skipped} writes skipped (${MAX_IN_FLIGHT} unanswered)`);
      const drainMs = await drain(proc, w.writes, cfg.drainMs, label);
      const r = await proc.report();
      if (r.measuredDeliveries !== w.measuredWrites) {
        throw new CorrectnessError(`${label}: ${r.measuredDeliveries} measured deliveries for ${w.measuredWrites} measured writes`);
      }
      const measuredS = cfg.measureMs / 1000;
      const f: ModeFigures = {
        connectSeconds: round(seconds, 1),
        deliveriesPerSecond: r.windowDeliveries / measuredS,
        p50: r.p50,
        p99: r.p99,
        max: r.max,
        e2eP50: round(r.e2eP50, 1),
        e2eP99: round(r.e2eP99, 1),
        changesPerFrame: round(r.changesPerFrame, 2),
        writes: w.writes,
        skippedWrites: w.skipped,
        achievedWriteRate: round(w.achievedRate, 1),
        writeP50ms: round(w.writeP50, 1),
        writeP99ms: round(w.writeP99, 1),
        drainMs: Math.round(drainMs),
        serverMicrosPerWrite: round(((w.cpu.server ?? 0) * 1e6) / (w.measuredWrites / measuredS), 1),
        cpuCores: w.cpu,
      };
      cfg.log(
        `  ${label}: ${Math.round(f.deliveriesPerSecond).toLocaleString('en-US')} deliveries/s, p50 ${f.p50.toFixed(1)} ms, ` +
          `p99 ${f.p99.toFixed(1)} ms, max ${f.max.toFixed(1)} ms; from the write's send p50 ${f.e2eP50} / p99 ${f.e2eP99} ms; ` +
          `writes ${f.achievedWriteRate}/s (p99 ${f.writeP99ms} ms); server ${f.serverMicrosPerWrite} µs CPU per write; ` +
          `drained in ${(drainMs / 1000).toFixed(1)} s; CPU ${JSON.stringify(w.cpu)}`,
      );
      return f;
    } finally {
      await proc.stop();
    }
  } finally {
    await server.stop();
    if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  }
}

// ---------------------------------------------------------------- scenario

export async function routing(cfg: RoutingConfig): Promise<Result[]> {
  const k = cfg.users >= 1000 ? `${cfg.users / 1000}k` : String(cfg.users);
  const name = `routing ${k} users × ${cfg.rate} w/s`;
  cfg.log(`routing: ${cfg.users.toLocaleString('en-US')} users subscribed to their own rows, one writer at ${cfg.rate}/s`);
  let routed: ModeFigures;
  let unrouted: ModeFigures;
  try {
    routed = await runMode(cfg, 'routed');
    unrouted = await runMode(cfg, 'unrouted');
  } catch (err) {
    cfg.log(`  ${err instanceof CorrectnessError ? err.message : ((err as Error).stack ?? String(err))}`);
    return [
      failed(`${name}: deliveries, routed ÷ unrouted`, 'deliveries/s', 'deliveries/s', TARGET, err),
      failed(`${name}: p99`, 'ms', 'ms', null, err),
    ];
  }
  const figures = (f: ModeFigures) => ({
    ...f,
    deliveriesPerSecond: Math.round(f.deliveriesPerSecond),
    p50ms: round(f.p50, 1),
    p99ms: round(f.p99, 1),
    maxMs: round(f.max, 1),
    p50: undefined,
    p99: undefined,
    max: undefined,
  });
  const details = {
    users: cfg.users,
    writesPerSecond: cfg.rate,
    warmupMs: cfg.warmupMs,
    measureMs: cfg.measureMs,
    routed: figures(routed),
    unrouted: figures(unrouted),
  };
  const r = result(
    `${name}: deliveries, routed ÷ unrouted`,
    routed.deliveriesPerSecond,
    'deliveries/s',
    unrouted.deliveriesPerSecond,
    'deliveries/s',
    TARGET,
    details,
  );
  return [
    r,
    result(`${name}: p50`, routed.p50, 'ms', unrouted.p50, 'ms', null),
    result(`${name}: p99`, routed.p99, 'ms', unrouted.p99, 'ms', null),
    result(`${name}: server CPU per write`, routed.serverMicrosPerWrite, 'µs', unrouted.serverMicrosPerWrite, 'µs', null),
  ];
}
