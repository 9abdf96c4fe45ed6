/**
 * Scenarios on the external PostgreSQL: Syncline (server child, pg pool) against
 * raw `pg` doing the same work with the simplest efficient SQL.
 */
import pg from 'pg';
import { CorrectnessError, docData, now, runTimed, startServer, type TimedResult } from './harness.js';
import { failed, type Result, result } from './report.js';
import { pullAll, pusher } from './workload.js';

export interface PgBenchConfig {
  databaseUrl: string;
  clients: number;
  batch: number;
  warmupMs: number;
  measureMs: number;
  pullChanges: number;
  pullLimit: number;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

const PUSH_SCHEMA = 'bench_push';
const PULL_SCHEMA = 'bench_pull';

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const timedDetails = (t: TimedResult) => ({
  seconds: round(t.seconds, 2),
  requests: t.requests,
  p50ms: round(t.p50, 1),
  p99ms: round(t.p99, 1),
  cpuCores: Object.fromEntries(Object.entries(t.cpu).map(([k, v]) => [k, round(v, 2)])),
});
const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------- push

export async function pushPostgres(cfg: PgBenchConfig): Promise<Result> {
  const name = 'push (PostgreSQL)';
  try {
    cfg.log(`${name}: Syncline, ${cfg.clients} clients × ${cfg.batch} inserts per request`);
    await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${PUSH_SCHEMA} CASCADE`));
    const server = await startServer({
      label: 'pg-push',
      env: { DATABASE_URL: cfg.databaseUrl, SYNCLINE_SCHEMA: PUSH_SCHEMA },
      sockets: cfg.clients,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    let syn: TimedResult;
    let applied: number;
    try {
      await admin(cfg.databaseUrl, (c) => c.query('CHECKPOINT'));
      const p = pusher(server.client, cfg.batch);
      syn = await runTimed({
        workers: cfg.clients,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.measureMs,
        task: p.task,
        serverPid: server.pid,
        postgresCpu: true,
      });
      applied = p.applied();
    } finally {
      await server.stop();
    }
    // Every acknowledged operation must be a document and a change.
    const counts = await admin(cfg.databaseUrl, async (c) => {
      const d = await c.query(`SELECT count(*)::int AS n FROM ${PUSH_SCHEMA}.documents`);
      const ch = await c.query(`SELECT count(*)::int AS n FROM ${PUSH_SCHEMA}.changes`);
      return { documents: d.rows[0].n as number, changes: ch.rows[0].n as number };
    });
    if (counts.documents !== applied || counts.changes !== applied) {
      throw new CorrectnessError(
        `push: ${applied} operations applied but ${counts.documents} documents / ${counts.changes} changes stored`,
      );
    }
    cfg.log(`  syncline: ${Math.round(syn.perSecond)} ops/s (${applied} applied in total, p50 ${syn.p50.toFixed(1)} ms)`);

    cfg.log(`${name}: baseline, raw pg, ${cfg.clients} connections × INSERT of ${cfg.batch} rows`);
    await admin(cfg.databaseUrl, (c) =>
      c.query(`DROP TABLE IF EXISTS bench_raw_push;
        CREATE TABLE bench_raw_push (collection text, id text, data jsonb, PRIMARY KEY (collection, id));
        CHECKPOINT`),
    );
    const conns = await Promise.all(
      Array.from({ length: cfg.clients }, async () => {
        const c = new pg.Client({ connectionString: cfg.databaseUrl });
        await c.connect();
        return c;
      }),
    );
    let raw: TimedResult;
    let rawRows = 0;
    try {
      const seq: number[] = [];
      let n = 0;
      raw = await runTimed({
        workers: cfg.clients,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.measureMs,
        postgresCpu: true,
        async task(w) {
          const base = seq[w] ?? 0;
          seq[w] = base + cfg.batch;
          const cols: string[] = [];
          const ids: string[] = [];
          const data: string[] = [];
          for (let i = 0; i < cfg.batch; i++) {
            cols.push('items');
            ids.push(`raw-w${w}-d${base + i}`);
            data.push(JSON.stringify(docData(n++)));
          }
          const r = await (conns[w] as pg.Client).query(
            'INSERT INTO bench_raw_push (collection, id, data) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])',
            [cols, ids, data],
          );
          if (r.rowCount !== cfg.batch) throw new CorrectnessError(`raw push: inserted ${r.rowCount} rows, expected ${cfg.batch}`);
          rawRows += cfg.batch;
          return cfg.batch;
        },
      });
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
    cfg.log(`  baseline: ${Math.round(raw.perSecond)} rows/s (${rawRows} rows in total, p50 ${raw.p50.toFixed(1)} ms)`);
    return result(name, syn.perSecond, 'ops/s', raw.perSecond, 'rows/s', 0.6, {
      batch: cfg.batch,
      clients: cfg.clients,
      syncline: timedDetails(syn),
      baseline: timedDetails(raw),
    });
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    return failed(name, 'ops/s', 'rows/s', 0.6, err);
  }
}

// ---------------------------------------------------------------- pull

const SEED_DATA = `jsonb_build_object('title', 'Item ' || g, 'n', g, 'tags', jsonb_build_array('bench', 't' || (g % 10)), 'done', g % 2 = 0)`;

export async function pullPostgres(cfg: PgBenchConfig): Promise<Result> {
  const name = 'pull (PostgreSQL)';
  const total = cfg.pullChanges;
  const step = 10_000;
  try {
    cfg.log(`${name}: seeding ${total.toLocaleString('en-US')} changes into ${PULL_SCHEMA} with SQL`);
    await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${PULL_SCHEMA} CASCADE`));
    const server = await startServer({
      label: 'pg-pull',
      env: { DATABASE_URL: cfg.databaseUrl, SYNCLINE_SCHEMA: PULL_SCHEMA },
      sockets: 1,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    let syn: Awaited<ReturnType<typeof pullAll>>;
    let cpuServer = 0;
    try {
      const seedSeconds = await admin(cfg.databaseUrl, async (c) => {
        const t0 = now();
        for (let lo = 1; lo <= total; lo += step) {
          const hi = Math.min(total, lo + step - 1);
          await c.query(
            `INSERT INTO ${PULL_SCHEMA}.documents (collection, id, data)
             SELECT 'items', 'seed-' || g, ${SEED_DATA} FROM generate_series($1::int, $2::int) g`,
            [lo, hi],
          );
        }
        const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${PULL_SCHEMA}.changes`);
        if (rows[0].n !== total) throw new CorrectnessError(`pull seed: ${rows[0].n} changes captured, expected ${total}`);
        const secs = (now() - t0) / 1000;
        await c.query(`VACUUM ANALYZE ${PULL_SCHEMA}.changes, ${PULL_SCHEMA}.commits, ${PULL_SCHEMA}.documents`);
        await c.query('CHECKPOINT');
        return secs;
      });
      cfg.log(`  seeded in ${seedSeconds.toFixed(1)} s`);
      await pullAll(server.client, cfg.pullLimit, undefined, 10); // warm-up
      const c0 = server.cpuSeconds();
      syn = await pullAll(server.client, cfg.pullLimit, total);
      cpuServer = (server.cpuSeconds() - c0) / syn.seconds;
    } finally {
      await server.stop();
    }
    cfg.log(`  syncline: ${Math.round(syn.perSecond)} changes/s (${syn.pages} pages in ${syn.seconds.toFixed(2)} s)`);

    cfg.log(`${name}: baseline, raw pg keyset pagination over bench_raw_pull`);
    const raw = await admin(cfg.databaseUrl, async (c) => {
      await c.query(`DROP TABLE IF EXISTS bench_raw_pull;
        CREATE TABLE bench_raw_pull (position bigint PRIMARY KEY, collection text, doc_id text, data jsonb)`);
      for (let lo = 1; lo <= total; lo += step) {
        await c.query(`INSERT INTO bench_raw_pull SELECT g, 'items', 'seed-' || g, ${SEED_DATA} FROM generate_series($1::int, $2::int) g`, [
          lo,
          Math.min(total, lo + step - 1),
        ]);
      }
      await c.query('VACUUM ANALYZE bench_raw_pull');
      await c.query('CHECKPOINT');
      const pass = async (maxPages: number) => {
        let since = 0;
        let rows = 0;
        let pages = 0;
        const t0 = now();
        for (;;) {
          const r = await c.query('SELECT * FROM bench_raw_pull WHERE position > $1 ORDER BY position LIMIT $2', [since, cfg.pullLimit]);
          pages++;
          rows += r.rows.length;
          const last = r.rows.at(-1);
          if (!last || pages >= maxPages) break;
          since = Number(last.position);
        }
        return { rows, pages, seconds: (now() - t0) / 1000 };
      };
      await pass(10);
      const p = await pass(Infinity);
      if (p.rows !== total) throw new CorrectnessError(`raw pull: read ${p.rows} rows, expected ${total}`);
      return { ...p, perSecond: p.rows / p.seconds };
    });
    cfg.log(`  baseline: ${Math.round(raw.perSecond)} rows/s (${raw.pages} pages in ${raw.seconds.toFixed(2)} s)`);
    return result(name, syn.perSecond, 'changes/s', raw.perSecond, 'rows/s', 0.5, {
      changes: total,
      limit: cfg.pullLimit,
      syncline: { seconds: round(syn.seconds, 2), pages: syn.pages, serverCpuCores: round(cpuServer, 2) },
      baseline: { seconds: round(raw.seconds, 2), pages: raw.pages },
    });
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    return failed(name, 'changes/s', 'rows/s', 0.5, err);
  }
}
