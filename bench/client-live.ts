/**
 * Client live queries (issue 15.1): does a change cost the same with 100,000
 * local documents as with 1,000?
 *
 *   client-live  One server child on PostgreSQL (schema bench_client_live); two collections seeded with SQL:
 *           `live_small` (`small`, default 1,000 documents) and `live_large` (`large`, default 100,000), document i
 *           `{category: i % 10, price: (i * 7919) % 10000, title}`. One SDK client per collection (MemoryStore,
 *           socket transport) syncs it, then opens 10 live queries, each with a limit as a list UI would:
 *           5 × `{sort: {price: 'desc'}, limit: 20..60}`, 5 × `{filter: {category: {$in: [0, k]}}, sort: {price: -1, title: 1}, limit: 50}`.
 *           A round: the bench POSTs /operations (raw fetch, a writer client id) patching one random document to
 *           `{category: 0, price: 1,000,000 + round}`, which moves it to the top of all 10 windows; the time is
 *           from the POST to the moment all 10 callbacks have shown it on top. Rounds alternate between the two
 *           collections; medians reported. The baseline is the 1,000-document collection: target
 *           large ÷ small ≤ 2 (flat in n). Also reported: the client's own part, from the change frame's arrival
 *           on the socket to the last callback.
 *           Correctness: every callback's window is checked against the expected order after each round.
 */
import {
  createClient,
  type Doc,
  MemoryStore,
  type Query,
  SocketTransport,
  type SynclineClient,
  type Transport,
} from '../packages/client/src/index.js';
import { admin, CorrectnessError, now, round, type ServerChild, startServer } from './harness.js';
import { failed, type Result, result } from './report.js';
import type { RoutingConfig } from './routing.js';

export interface ClientLiveConfig extends Pick<RoutingConfig, 'databaseUrl' | 'keep' | 'cpuProfDir' | 'log'> {
  small: number;
  large: number;
  /** Measured rounds per collection (after warm-up rounds). */
  rounds: number;
  timeoutMs: number;
}

const SCHEMA = 'bench_client_live';
/** large latency ÷ small latency ≤ this. */
const TARGET = 2;
const QUERIES = 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] as number;

async function seed(cfg: ClientLiveConfig, collection: string, n: number): Promise<void> {
  await admin(cfg.databaseUrl, async (c) => {
    await c.query(
      `INSERT INTO ${SCHEMA}.documents (collection, id, data)
       SELECT $1, 'd' || lpad(i::text, 6, '0'),
              jsonb_build_object('category', i % 10, 'price', (i * 7919) % 10000, 'title', 'Item ' || i)
       FROM generate_series(0, $2::int - 1) AS i`,
      [collection, n],
    );
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.documents WHERE collection = $1`, [collection]);
    if (rows[0].n !== n) throw new CorrectnessError(`client-live seed: ${rows[0].n} documents in ${collection}, expected ${n}`);
  });
}

interface Side {
  collection: string;
  size: number;
  client: SynclineClient;
  windows: (readonly Doc[])[];
  /** When the last change frame arrived on the socket. */
  frameAt: number;
  waiter: (() => void) | undefined;
  totals: number[];
  clientMs: number[];
}

/** A socket transport whose change frames are timestamped on arrival. */
function timedTransport(url: string, side: () => Side): Transport {
  const inner = new SocketTransport({ url });
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'subscribe') {
        return (collection: string, since: number, handlers: Parameters<NonNullable<Transport['subscribe']>>[2], filter?: never) =>
          target.subscribe(
            collection,
            since,
            {
              ...handlers,
              changes: (f) => {
                if (f.changes.length > 0) side().frameAt = now();
                handlers.changes(f);
              },
            },
            filter,
          );
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const QUERY_SPECS: Query[] = Array.from(
  { length: QUERIES },
  (_, i): Query =>
    i < 5
      ? { sort: { price: 'desc' }, limit: 20 + 10 * i }
      : { filter: { category: { $in: [0, i] } }, sort: { price: -1, title: 1 }, limit: 50 },
);

async function openSide(url: string, collection: string, size: number, timeoutMs: number): Promise<Side> {
  let side: Side | undefined;
  const client = createClient({ url, store: new MemoryStore(), transport: timedTransport(url, () => side as Side) });
  side = { collection, size, client, windows: new Array(QUERIES), frameAt: 0, waiter: undefined, totals: [], clientMs: [] };
  const s = side;
  const col = client.collection(collection);
  await withDeadline(client.whenSynced(), timeoutMs, `client-live: sync of ${collection}`);
  const count = await client.store.count(collection);
  if (count !== size) throw new CorrectnessError(`client-live: ${collection} holds ${count} documents after sync, expected ${size}`);
  let loaded = 0;
  await new Promise<void>((resolve) => {
    QUERY_SPECS.forEach((q, i) => {
      col.live(q, (docs) => {
        const first = s.windows[i] === undefined;
        s.windows[i] = docs;
        if (first && ++loaded === QUERIES) resolve();
        s.waiter?.();
      });
    });
  });
  return s;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CorrectnessError(`${what}: not done after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, stall]).finally(() => clearTimeout(timer));
}

/** One round: patch a document to the top of every window; resolves with the POST → last callback time. */
async function patchRound(url: string, side: Side, r: number, timeoutMs: number): Promise<number> {
  const i = Math.floor(Math.random() * side.size);
  const id = `d${String(i).padStart(6, '0')}`;
  const price = 1_000_000 + r;
  const onTop = () => side.windows.every((w) => w?.[0]?._id === id && w[0]?.price === price);
  const shown = new Promise<number>((resolve) => {
    side.waiter = () => {
      if (onTop()) {
        side.waiter = undefined;
        resolve(now());
      }
    };
  });
  const t0 = now();
  const res = await fetch(`${url}/operations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      clientId: 'bench-live-writer',
      operations: [
        {
          id: `live-${side.collection}-${r}-${Math.random().toString(36).slice(2)}`,
          type: 'patch',
          collection: side.collection,
          docId: id,
          data: { category: 0, price },
        },
      ],
    }),
  });
  if (!res.ok) throw new CorrectnessError(`client-live: POST /operations answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const body = (await res.json()) as { results?: { status: string }[] };
  if (body.results?.[0]?.status !== 'applied')
    throw new CorrectnessError(`client-live: the patch was not applied: ${JSON.stringify(body).slice(0, 300)}`);
  const t1 = await withDeadline(shown, timeoutMs, `client-live: ${side.collection} round ${r}`);
  side.clientMs.push(t1 - side.frameAt);
  // The windows are the expected ones (checked every 10th round: a one-shot query over 100k documents is slow).
  if (r % 10 !== 0) return t1 - t0;
  const col = side.client.collection(side.collection);
  for (let q = 0; q < QUERIES; q++) {
    const want = (await col.query(QUERY_SPECS[q])).map((d) => d._id).join();
    const got = (side.windows[q] ?? []).map((d) => d._id).join();
    if (want !== got)
      throw new CorrectnessError(
        `client-live: ${side.collection} query ${q} shows ${got.slice(0, 200)}, a fresh query gives ${want.slice(0, 200)}`,
      );
  }
  return t1 - t0;
}

export async function clientLive(cfg: ClientLiveConfig): Promise<Result[]> {
  const k = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));
  const name = `client-live ${QUERIES} live queries, ${k(cfg.large)} vs ${k(cfg.small)} docs: patch → callbacks`;
  try {
    await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
    const server: ServerChild = await startServer({
      label: 'client-live',
      env: { DATABASE_URL: cfg.databaseUrl, SYNCLINE_SCHEMA: SCHEMA, SYNCLINE_MAX_QUERY_LIMIT: '1000' },
      sockets: 2,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    const sides: Side[] = [];
    try {
      cfg.log(`client-live: seeding ${cfg.small.toLocaleString('en-US')} + ${cfg.large.toLocaleString('en-US')} documents with SQL`);
      await seed(cfg, 'live_small', cfg.small);
      await seed(cfg, 'live_large', cfg.large);
      const url = `http://127.0.0.1:${server.port}`;
      const t0 = now();
      const small = await openSide(url, 'live_small', cfg.small, cfg.timeoutMs);
      const large = await openSide(url, 'live_large', cfg.large, cfg.timeoutMs);
      sides.push(small, large);
      cfg.log(`  synced and opened ${QUERIES} live queries on each in ${((now() - t0) / 1000).toFixed(1)} s`);
      const times = new Map<Side, number[]>([
        [small, []],
        [large, []],
      ]);
      const warmup = 5;
      for (let r = 0; r < warmup + cfg.rounds; r++) {
        for (const side of r % 2 === 0 ? [small, large] : [large, small]) {
          const ms = await patchRound(url, side, r, cfg.timeoutMs);
          if (r >= warmup) times.get(side)?.push(ms);
          else side.clientMs.pop();
        }
      }
      const s = times.get(small) as number[];
      const l = times.get(large) as number[];
      cfg.log(
        `  patch → ${QUERIES} callbacks, median (p90): ${k(cfg.small)} docs ${median(s).toFixed(2)} ms (${p90(s).toFixed(2)}), ` +
          `${k(cfg.large)} docs ${median(l).toFixed(2)} ms (${p90(l).toFixed(2)}); client part (frame → callbacks) ` +
          `${median(small.clientMs).toFixed(2)} vs ${median(large.clientMs).toFixed(2)} ms`,
      );
      const details = {
        small: cfg.small,
        large: cfg.large,
        rounds: cfg.rounds,
        queries: QUERY_SPECS,
        smallMs: { median: round(median(s), 3), p90: round(p90(s), 3) },
        largeMs: { median: round(median(l), 3), p90: round(p90(l), 3) },
        clientPartMs: { small: round(median(small.clientMs), 3), large: round(median(large.clientMs), 3) },
      };
      const main = result(name, median(l), 'ms', median(s), 'ms', null, details);
      return [
        { ...main, target: TARGET, targetLabel: `≤ ${TARGET.toFixed(1)}×`, pass: main.ratio <= TARGET },
        result(
          `client-live ${k(cfg.large)} vs ${k(cfg.small)} docs: client part (frame → callbacks)`,
          median(large.clientMs),
          'ms',
          median(small.clientMs),
          'ms',
          null,
        ),
      ];
    } finally {
      for (const side of sides) await side.client.close();
      await server.stop();
      if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
    }
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    cfg.log(`  ${err.message}`);
    return [{ ...failed(name, 'ms', 'ms', TARGET, err), targetLabel: `≤ ${TARGET.toFixed(1)}×` }];
  }
}
