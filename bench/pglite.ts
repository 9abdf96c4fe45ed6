/**
 * Scenarios on embedded PGlite: the server child with its own data folder
 * against raw PGlite in the bench process doing the same SQL. Informational.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { CorrectnessError, now, rawBatches, round, runTimed, startServer, type TimedResult, timedDetails } from './harness.js';
import { failed, type Result, result } from './report.js';
import { pullAll, pusher } from './workload.js';

export interface PgliteBenchConfig {
  clients: number;
  batch: number;
  warmupMs: number;
  measureMs: number;
  pullChanges: number;
  pullLimit: number;
  seedBatch: number;
  cpuProfDir?: string;
  log: (msg: string) => void;
}

const tempDirs: string[] = [];
function tempDir(tag: string): string {
  const d = mkdtempSync(join(os.tmpdir(), `syncline-bench-${tag}-`));
  tempDirs.push(d);
  return d;
}
export function cleanupPgliteDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

async function rawPglite(tag: string): Promise<PGlite> {
  return PGlite.create(tempDir(tag));
}

// ---------------------------------------------------------------- push

export async function pushPglite(cfg: PgliteBenchConfig): Promise<Result> {
  const name = 'push (PGlite)';
  try {
    cfg.log(`${name}: Syncline, ${cfg.clients} clients × ${cfg.batch} inserts per request`);
    const server = await startServer({
      label: 'pglite-push',
      env: { SYNCLINE_DATA_DIR: tempDir('push') },
      sockets: cfg.clients,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    let syn: TimedResult;
    try {
      const p = pusher(server.client, cfg.batch);
      syn = await runTimed({
        workers: cfg.clients,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.measureMs,
        task: p.task,
        serverPid: server.pid,
      });
      const stats = await server.client.request<{ totalDocuments: number }>('GET', '/stats');
      if (stats.body.totalDocuments !== p.applied()) {
        throw new CorrectnessError(`push: ${p.applied()} operations applied but /stats reports ${stats.body.totalDocuments} documents`);
      }
    } finally {
      await server.stop();
    }
    cfg.log(`  syncline: ${Math.round(syn.perSecond)} ops/s (p50 ${syn.p50.toFixed(1)} ms)`);

    cfg.log(`${name}: baseline, raw PGlite (in the bench process, on disk), INSERT of ${cfg.batch} rows`);
    const db = await rawPglite('rawpush');
    let raw: TimedResult;
    try {
      await db.exec('CREATE TABLE bench_raw_push (collection text, id text, data jsonb, PRIMARY KEY (collection, id))');
      const nextRawBatch = rawBatches(cfg.batch);
      raw = await runTimed({
        workers: cfg.clients,
        warmupMs: cfg.warmupMs,
        measureMs: cfg.measureMs,
        async task(w) {
          const [cols, ids, data] = nextRawBatch(w);
          const r = await db.query(
            'INSERT INTO bench_raw_push (collection, id, data) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])',
            [cols, ids, data],
          );
          if (r.affectedRows !== cfg.batch) throw new CorrectnessError(`raw push: inserted ${r.affectedRows} rows, expected ${cfg.batch}`);
          return cfg.batch;
        },
      });
    } finally {
      await db.close();
    }
    cfg.log(`  baseline: ${Math.round(raw.perSecond)} rows/s (p50 ${raw.p50.toFixed(1)} ms)`);
    return result(name, syn.perSecond, 'ops/s', raw.perSecond, 'rows/s', null, {
      batch: cfg.batch,
      clients: cfg.clients,
      syncline: timedDetails(syn),
      baseline: timedDetails(raw),
    });
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    return failed(name, 'ops/s', 'rows/s', null, err);
  }
}

// ---------------------------------------------------------------- pull

export async function pullPglite(cfg: PgliteBenchConfig): Promise<Result> {
  const name = 'pull (PGlite)';
  const total = cfg.pullChanges;
  try {
    cfg.log(`${name}: seeding ${total.toLocaleString('en-US')} changes over HTTP (${cfg.seedBatch} inserts per push)`);
    const server = await startServer({
      label: 'pglite-pull',
      env: { SYNCLINE_DATA_DIR: tempDir('pull') },
      sockets: 1,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    let syn: Awaited<ReturnType<typeof pullAll>>;
    try {
      const p = pusher(server.client, cfg.seedBatch);
      const t0 = now();
      for (let done = 0; done < total; done += cfg.seedBatch) {
        if (total - done < cfg.seedBatch) throw new Error(`pullChanges (${total}) must be a multiple of ${cfg.seedBatch}`);
        await p.task(0);
      }
      cfg.log(`  seeded in ${((now() - t0) / 1000).toFixed(1)} s`);
      await pullAll(server.client, cfg.pullLimit, { maxPages: 10 }); // warm-up
      syn = await pullAll(server.client, cfg.pullLimit, { expected: total, serverPid: server.pid });
    } finally {
      await server.stop();
    }
    cfg.log(`  syncline: ${Math.round(syn.perSecond)} changes/s (${syn.pages} pages in ${syn.seconds.toFixed(2)} s)`);

    cfg.log(`${name}: baseline, raw PGlite keyset pagination`);
    const db = await rawPglite('rawpull');
    let raw: { rows: number; pages: number; seconds: number; perSecond: number };
    try {
      await db.exec('CREATE TABLE bench_raw_pull (position bigint PRIMARY KEY, collection text, doc_id text, data jsonb)');
      await db.query(
        `INSERT INTO bench_raw_pull SELECT g, 'items', 'seed-' || g,
           jsonb_build_object('title', 'Item ' || g, 'n', g, 'tags', jsonb_build_array('bench', 't' || (g % 10)), 'done', g % 2 = 0)
         FROM generate_series(1, $1::int) g`,
        [total],
      );
      await db.exec('VACUUM ANALYZE bench_raw_pull');
      const pass = async (maxPages: number) => {
        let since = 0;
        let rows = 0;
        let pages = 0;
        const t0 = now();
        for (;;) {
          const r = await db.query<{ position: number }>('SELECT * FROM bench_raw_pull WHERE position > $1 ORDER BY position LIMIT $2', [
            since,
            cfg.pullLimit,
          ]);
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
      raw = { ...p, perSecond: p.rows / p.seconds };
    } finally {
      await db.close();
    }
    cfg.log(`  baseline: ${Math.round(raw.perSecond)} rows/s (${raw.pages} pages in ${raw.seconds.toFixed(2)} s)`);
    return result(name, syn.perSecond, 'changes/s', raw.perSecond, 'rows/s', null, {
      changes: total,
      limit: cfg.pullLimit,
      syncline: {
        seconds: round(syn.seconds, 2),
        pages: syn.pages,
        msPerPage: round((syn.seconds * 1000) / syn.pages, 2),
        kibPerPage: round(syn.kibPerPage, 1),
        benchJsonParseMsPerPage: round(syn.parseMsPerPage, 2),
        cpuMsPerPage: Object.fromEntries(Object.entries(syn.cpuMsPerPage).map(([k, v]) => [k, round(v ?? 0, 2)])),
      },
      baseline: { seconds: round(raw.seconds, 2), pages: raw.pages },
    });
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    return failed(name, 'changes/s', 'rows/s', null, err);
  }
}
