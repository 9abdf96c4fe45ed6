/**
 * Scenarios on the external PostgreSQL: Syncline (server child, pg pool) against
 * raw `pg` doing the same work with the simplest efficient SQL.
 */
import pg from 'pg';
import {
  admin,
  CorrectnessError,
  now,
  postgresCpuSeconds,
  rawBatches,
  round,
  runTimed,
  startServer,
  type TimedResult,
  timedDetails,
} from './harness.js';
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
  /** Leave the bench schemas and tables in place for inspection (they are dropped at the next run anyway). */
  keep: boolean;
  log: (msg: string) => void;
}

const PUSH_SCHEMA = 'bench_push';
const PULL_SCHEMA = 'bench_pull';

const roundAll = (o: Record<string, number | undefined>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === undefined ? v : round(v, 2)]));

/** Current WAL insert position (the cluster's, so other activity counts too). */
const walLsn = (url: string) =>
  admin(url, async (c) => (await c.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l as string);
const walBytesSince = (url: string, lsn: string) =>
  admin(url, async (c) => Number((await c.query('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn) AS d', [lsn])).rows[0].d));

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
    let synWal: number;
    try {
      await admin(cfg.databaseUrl, (c) => c.query('CHECKPOINT'));
      const lsn0 = await walLsn(cfg.databaseUrl);
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
      synWal = (await walBytesSince(cfg.databaseUrl, lsn0)) / applied;
    } finally {
      await server.stop();
    }
    // Every acknowledged operation must be a document and a change.
    const counts = await admin(cfg.databaseUrl, async (c) => {
      const d = await c.query(`SELECT count(*)::int AS n FROM ${PUSH_SCHEMA}.documents`);
      const ch = await c.query(`SELECT count(*)::int AS n FROM ${PUSH_SCHEMA}.changes`);
      // Acknowledged means visible to pulls: every change has a position.
      const pos = await c.query(`SELECT count(*)::int AS n FROM ${PUSH_SCHEMA}.changes ch JOIN ${PUSH_SCHEMA}.commits c ON c.tx = ch.tx`);
      return { documents: d.rows[0].n as number, changes: ch.rows[0].n as number, positioned: pos.rows[0].n as number };
    });
    if (counts.documents !== applied || counts.changes !== applied || counts.positioned !== applied) {
      throw new CorrectnessError(
        `push: ${applied} operations applied but ${counts.documents} documents / ${counts.changes} changes / ${counts.positioned} with a position stored`,
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
    let rawWal: number;
    const rawLsn0 = await walLsn(cfg.databaseUrl);
    try {
      const nextRawBatch = rawBatches(cfg.batch);
      raw = await runTimed({
        workers: cfg.clients,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.measureMs,
        postgresCpu: true,
        async task(w) {
          const [cols, ids, data] = nextRawBatch(w);
          const r = await (conns[w] as pg.Client).query(
            'INSERT INTO bench_raw_push (collection, id, data) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])',
            [cols, ids, data],
          );
          if (r.rowCount !== cfg.batch) throw new CorrectnessError(`raw push: inserted ${r.rowCount} rows, expected ${cfg.batch}`);
          rawRows += cfg.batch;
          return cfg.batch;
        },
      });
      rawWal = (await walBytesSince(cfg.databaseUrl, rawLsn0)) / rawRows;
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
    cfg.log(`  baseline: ${Math.round(raw.perSecond)} rows/s (${rawRows} rows in total, p50 ${raw.p50.toFixed(1)} ms)`);
    if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA ${PUSH_SCHEMA} CASCADE; DROP TABLE bench_raw_push`));
    return result(name, syn.perSecond, 'ops/s', raw.perSecond, 'rows/s', 0.6, {
      batch: cfg.batch,
      clients: cfg.clients,
      syncline: { ...timedDetails(syn), walBytesPerUnit: Math.round(synWal) },
      baseline: { ...timedDetails(raw), walBytesPerUnit: Math.round(rawWal) },
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
      await pullAll(server.client, cfg.pullLimit, { maxPages: 10 }); // warm-up
      syn = await pullAll(server.client, cfg.pullLimit, { expected: total, serverPid: server.pid, postgresCpu: true });
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
        const cpu0 = process.cpuUsage();
        const pg0 = postgresCpuSeconds();
        const t0 = now();
        for (;;) {
          const r = await c.query('SELECT * FROM bench_raw_pull WHERE position > $1 ORDER BY position LIMIT $2', [since, cfg.pullLimit]);
          pages++;
          rows += r.rows.length;
          const last = r.rows.at(-1);
          if (!last || pages >= maxPages) break;
          since = Number(last.position);
        }
        const seconds = (now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const cpuMsPerPage = { bench: (cpu.user + cpu.system) / 1000 / pages, postgres: ((postgresCpuSeconds() - pg0) * 1000) / pages };
        return { rows, pages, seconds, cpuMsPerPage };
      };
      await pass(10);
      const p = await pass(Infinity);
      if (p.rows !== total) throw new CorrectnessError(`raw pull: read ${p.rows} rows, expected ${total}`);
      return { ...p, perSecond: p.rows / p.seconds };
    });
    cfg.log(`  baseline: ${Math.round(raw.perSecond)} rows/s (${raw.pages} pages in ${raw.seconds.toFixed(2)} s)`);
    if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA ${PULL_SCHEMA} CASCADE; DROP TABLE bench_raw_pull`));
    return result(name, syn.perSecond, 'changes/s', raw.perSecond, 'rows/s', 0.5, {
      changes: total,
      limit: cfg.pullLimit,
      syncline: {
        seconds: round(syn.seconds, 2),
        pages: syn.pages,
        msPerPage: round((syn.seconds * 1000) / syn.pages, 2),
        kibPerPage: round(syn.kibPerPage, 1),
        benchJsonParseMsPerPage: round(syn.parseMsPerPage, 2),
        cpuMsPerPage: roundAll(syn.cpuMsPerPage),
      },
      baseline: {
        seconds: round(raw.seconds, 2),
        pages: raw.pages,
        msPerPage: round((raw.seconds * 1000) / raw.pages, 2),
        cpuMsPerPage: roundAll(raw.cpuMsPerPage),
      },
    });
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    return failed(name, 'changes/s', 'rows/s', 0.5, err);
  }
}
