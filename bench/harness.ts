/**
 * Bench plumbing: the Syncline server as a child process, a keep-alive JSON
 * HTTP client, a timed concurrent load runner and CPU accounting from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The server's CLI; `--server-cli` (run.ts) points it at another build, e.g. a copy of dist. */
export let CLI = join(ROOT, 'packages/server/dist/cli.js');
export const setServerCli = (path: string) => {
  CLI = resolve(path);
};

/** A correctness failure: the bench keeps going but exits non-zero. */
export class CorrectnessError extends Error {
  override name = 'CorrectnessError';
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

// ---------------------------------------------------------------- HTTP client

const REQUEST_TIMEOUT_MS = 120_000;

export class JsonClient {
  private readonly agent: http.Agent;
  /** Response bytes received and time spent parsing them, for the pull figures. */
  readonly received = { bytes: 0, parseMs: 0 };

  constructor(
    readonly port: number,
    maxSockets: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((res, rej) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('error', rej);
          r.on('end', () => {
            const buf = Buffer.concat(chunks);
            const t0 = now();
            const text = buf.toString('utf8');
            this.received.bytes += buf.length;
            let parsed: unknown = text;
            if ((r.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
                this.received.parseMs += now() - t0;
              } catch (err) {
                rej(new Error(`invalid JSON from ${method} ${path}: ${(err as Error).message}`));
                return;
              }
            }
            res({ status: r.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on('error', rej);
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
      );
      if (payload) req.end(payload);
      else req.end();
    });
  }

  /** POST that must answer 200; anything else is a correctness failure. */
  async post<T>(path: string, body: unknown): Promise<T> {
    const r = await this.request<T>('POST', path, body);
    if (r.status !== 200) {
      throw new CorrectnessError(`POST ${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`);
    }
    return r.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------- server child

export interface ServerChild {
  readonly port: number;
  readonly pid: number;
  readonly client: JsonClient;
  /** Seconds of CPU (user + system) the child has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Variables that would change which storage the child picks; the bench sets them explicitly. */
const SERVER_ENV =
  /^(DATABASE_URL|POSTGRES_DATABASE_URL|POSTGRES_CONNECTION_STRING|ADAPTER|PORT|HOST|LOG_LEVEL|SYNCLINE_.*|DATABASE_POOL_SIZE|NODE_OPTIONS)$/;

export interface StartServerOptions {
  env: Record<string, string>;
  /** Folder for a V8 CPU profile of the child (node --cpu-prof), if wanted. */
  cpuProfDir?: string;
  /** Concurrent keep-alive sockets of the bench's client. */
  sockets?: number;
  label: string;
  /** Node arguments of another server to run instead of `syncline serve` (it must answer GET /health). */
  command?: string[];
}

/**
 * A load test's clients are thousands of anonymous sockets and requests from one
 * loopback address, which the per-user/IP limits (issue 5) would count as one
 * user: every bench server lifts them (a scenario's own env may set them again).
 */
export const LOAD_TEST_LIMITS = {
  SYNCLINE_MAX_SOCKETS_PER_USER: '100000',
  SYNCLINE_MAX_SUBSCRIPTIONS_PER_USER: '1000000',
  SYNCLINE_SOCKET_EVENTS_PER_MINUTE: '0',
  SYNCLINE_RATE_LIMIT_PER_MINUTE: '0',
};

export async function startServer(opts: StartServerOptions): Promise<ServerChild> {
  if (!opts.command && !existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SERVER_ENV.test(k)) env[k] = v;
  Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, LOAD_TEST_LIMITS, opts.env);
  const args: string[] = [];
  if (opts.cpuProfDir) {
    const dir = join(opts.cpuProfDir, opts.label);
    mkdirSync(dir, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const child = spawn(process.execPath, [...args, ...(opts.command ?? [CLI, 'serve'])], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const tail: string[] = [];
  const collect = (stream: NodeJS.ReadableStream, echo: boolean) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (s: string) => {
      buf += s;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (echo) process.stderr.write(`  [${opts.label}] ${line.slice(0, 400)}\n`);
        i = buf.indexOf('\n');
      }
    });
  };
  collect(child.stdout as NodeJS.ReadableStream, true);
  collect(child.stderr as NodeJS.ReadableStream, true);
  let exited: { code: number | null; signal: string | null } | undefined;
  const exitStatus = () => exited;
  const exitPromise = new Promise<void>((res) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      res();
    });
  });

  const client = new JsonClient(port, opts.sockets ?? 8);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      client.close();
      throw new Error(`server (${opts.label}) exited before it was healthy (code ${exited.code}):\n${tail.join('\n')}`);
    }
    try {
      const r = await client.request('GET', '/health');
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      client.close();
      throw new Error(`server (${opts.label}) not healthy after 60 s:\n${tail.join('\n')}`);
    }
    await sleep(100);
  }

  const pid = child.pid as number;
  return {
    port,
    pid,
    client,
    cpuSeconds: () => processCpuSeconds(pid),
    async stop() {
      client.close();
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitPromise;
      clearTimeout(timer);
      const how = exitStatus();
      if (how && how.code !== 0 && how.signal !== 'SIGTERM') {
        process.stderr.write(`  [${opts.label}] exited with code ${how.code} / ${how.signal}\n`);
      }
    },
  };
}

/** Runs `fn` on a short-lived admin connection. */
export async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;

/** The details of a timed run, as latest.json records them. */
export const timedDetails = (t: TimedResult) => ({
  seconds: round(t.seconds, 2),
  requests: t.requests,
  p50ms: round(t.p50, 1),
  p99ms: round(t.p99, 1),
  cpuCores: Object.fromEntries(Object.entries(t.cpu).map(([k, v]) => [k, round(v, 2)])),
  /** CPU microseconds per operation/row, by process: less sensitive to other load than the rate. */
  cpuMicrosPerUnit: Object.fromEntries(Object.entries(t.cpu).map(([k, v]) => [k, round((v * 1e6) / t.perSecond, 1)])),
});

// ---------------------------------------------------------------- CPU accounting

const CLK_TCK = 100;

/** user+system CPU seconds of a process (Linux /proc; 0 elsewhere). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime = field 14, stime = field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of the whole machine. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const n = line.trim().split(/\s+/).slice(1).map(Number);
    const total = n.reduce((a, b) => a + b, 0);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/**
 * CPU cores busy on the machine over `ms` while the bench itself is idle: other
 * work (test runs, other servers) that will skew the figures.
 */
export async function backgroundLoad(ms = 1000): Promise<number> {
  const a = machineCpu();
  const t = now();
  await sleep(ms);
  const b = machineCpu();
  const secs = (now() - t) / 1000;
  const jiffies = b.total - a.total;
  return jiffies > 0 ? ((b.busy - a.busy) / jiffies) * (jiffies / CLK_TCK / secs) : 0;
}

/** Total CPU seconds of every process whose command line starts with `postgres` (the server's backends). */
export function postgresCpuSeconds(): number {
  let sum = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
        if (comm.startsWith('postgres') || comm.startsWith('postmaster')) sum += processCpuSeconds(Number(entry));
      } catch {
        // process went away
      }
    }
  } catch {
    return 0;
  }
  return sum;
}

// ---------------------------------------------------------------- timed load

export interface TimedResult {
  /** Units (operations, rows) completed inside the measured window. */
  units: number;
  requests: number;
  seconds: number;
  perSecond: number;
  /** Latency of the requests completed inside the window, ms. */
  p50: number;
  p99: number;
  /** CPU use during the window, in cores (1.0 = one core busy). */
  cpu: { machine: number; bench: number; server?: number; postgres?: number };
}

export interface TimedOptions {
  workers: number;
  warmupMs: number;
  measureMs: number;
  /** One request; resolves with the units it completed (throws on a correctness failure). */
  task: (worker: number) => Promise<number>;
  serverPid?: number;
  /** Sample postgres backends' CPU (only meaningful for the external server). */
  postgresCpu?: boolean;
}

/**
 * `workers` loops issue requests back to back. Completions during the warm-up are
 * not counted; the window then runs `measureMs`, after which no new request
 * starts and in-flight ones are awaited (checked, not counted).
 */
export async function runTimed(o: TimedOptions): Promise<TimedResult> {
  let stopped = false;
  let measuring = false;
  let units = 0;
  let requests = 0;
  const lat: number[] = [];
  let failure: unknown;
  let cpu0 = { m: machineCpu(), s: 0, p: 0, b: process.cpuUsage() };
  let cpu1 = cpu0;
  const t0 = now();
  let start = t0;
  let end = t0;

  const sample = () => ({
    m: machineCpu(),
    s: o.serverPid ? processCpuSeconds(o.serverPid) : 0,
    p: o.postgresCpu ? postgresCpuSeconds() : 0,
    b: process.cpuUsage(),
  });

  const loop = async (w: number) => {
    while (!stopped) {
      const a = now();
      let n: number;
      try {
        n = await o.task(w);
      } catch (err) {
        failure ??= err;
        stopped = true;
        return;
      }
      const b = now();
      // In-process PGlite can settle every query in microtasks; let the phase timers run.
      await new Promise<void>((r) => setImmediate(r));
      if (measuring && b <= end) {
        units += n;
        requests++;
        lat.push(b - a);
      }
    }
  };

  const phases = (async () => {
    await sleep(o.warmupMs);
    if (stopped) return;
    cpu0 = sample();
    start = now();
    end = start + o.measureMs;
    measuring = true;
    await sleep(o.measureMs);
    end = Math.min(end, now());
    cpu1 = sample();
    stopped = true;
  })();
  await Promise.all([...Array.from({ length: o.workers }, (_, w) => loop(w)), phases.then(() => undefined)]);
  if (failure) throw failure;

  const seconds = (end - start) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  const jiffies = cpu1.m.total - cpu0.m.total;
  const cores = (cpu1.m.total - cpu0.m.total) / CLK_TCK / seconds; // ≈ number of CPUs
  const benchCpu = (cpu1.b.user + cpu1.b.system - cpu0.b.user - cpu0.b.system) / 1e6;
  const cpu: TimedResult['cpu'] = {
    machine: jiffies > 0 ? ((cpu1.m.busy - cpu0.m.busy) / jiffies) * cores : 0,
    bench: benchCpu / seconds,
  };
  if (o.serverPid) cpu.server = (cpu1.s - cpu0.s) / seconds;
  if (o.postgresCpu) cpu.postgres = (cpu1.p - cpu0.p) / seconds;
  return { units, requests, seconds, perSecond: units / seconds, p50: pct(0.5), p99: pct(0.99), cpu };
}

/** Same-shaped document payload for Syncline and the raw baselines. */
export function docData(n: number): { title: string; n: number; tags: string[]; done: boolean } {
  return { title: `Item ${n}`, n, tags: ['bench', `t${n % 10}`], done: n % 2 === 0 };
}

/** The raw baselines' rows, batch by batch per worker: the same documents the push scenario sends. */
export function rawBatches(batch: number): (worker: number) => [string[], string[], string[]] {
  const seq: number[] = [];
  let n = 0;
  return (w) => {
    const base = seq[w] ?? 0;
    seq[w] = base + batch;
    const cols: string[] = [];
    const ids: string[] = [];
    const data: string[] = [];
    for (let i = 0; i < batch; i++) {
      cols.push('items');
      ids.push(`raw-w${w}-d${base + i}`);
      data.push(JSON.stringify(docData(n++)));
    }
    return [cols, ids, data];
  };
}
