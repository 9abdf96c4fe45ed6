/**
 * Client SDK initial sync (issue 7), beside raw HTTP fetches of the same pages
 * in the same run.
 *
 *   client-sync  One server child on PostgreSQL (schema bench_client_sync); `documents` (default
 *           100,000) rows of `docData` seeded into one collection with SQL (the capture triggers
 *           log them). Then, in the bench process, alternating rounds of:
 *           - baseline: global `fetch` of POST /documents/items/query pages of `pageSize`, following
 *             `nextCursor`, each reply parsed (`res.json()`) and its documents counted;
 *           - syncline: `createClient({url, store: new MemoryStore(), pageSize})` (default socket
 *             transport) and `collection('items')`: the SDK's initial sync, the same pages through the
 *             same `fetch`, each written to the store, then the /sync subscription.
 *           documents/s = documents ÷ time from the first request (createClient) to the last page
 *           read (progress `done`); median of the rounds; target ≥ 0.7× the baseline. Time to first
 *           document: to the first parsed page (baseline) / the first `progress` event (the first page
 *           is in the store; it includes the socket's connection, `connectedMs` in the details).
 *           IndexedDBStore on fake-indexeddb: the same rounds against raw passes at the default page size,
 *           target ≥ 0.7× too (the SDK fetches the next page while it writes one: one transaction per page).
 *           Correctness: the baseline reads exactly `documents` documents; after `whenSynced()` the
 *           store holds exactly `documents` records, progress ended at `documents`, and a sampled
 *           record equals what was seeded.
 *
 * The client runs in the bench process: profile it with
 * `node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/run.ts --only=client-sync`
 * (`--cpu-prof` of run.ts profiles the server child).
 */

import { isDeepStrictEqual } from 'node:util';
import type { QueryResponse } from '@syncline/protocol';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { createClient, IndexedDBStore, MemoryStore, type Store } from '../packages/client/src/index.js';
import { admin, CorrectnessError, docData, now, postgresCpuSeconds, rawBatches, round, type ServerChild, startServer } from './harness.js';
import { failed, type Result, result } from './report.js';
import type { RoutingConfig } from './routing.js';

/** Shared with the routing scenario: database, `--keep`, profiles, log. */
export interface ClientSyncConfig extends Pick<RoutingConfig, 'databaseUrl' | 'keep' | 'cpuProfDir' | 'log'> {
  /** Documents in the collection. */
  documents: number;
  /** Initial-sync page sizes: the first one carries the target (the SDK's default, 500); others are reported. */
  pageSizes: number[];
  /** Measured baseline/MemoryStore rounds per page size (after one warm-up of each). */
  rounds: number;
  /** Longest one sync may take before it counts as stalled. */
  timeoutMs: number;
}

/** SDK documents/s ≥ this × raw fetch documents/s. */
const TARGET = 0.7;
const SCHEMA = 'bench_client_sync';
const COLLECTION = 'items';
const SEED_BATCH = 10_000;

interface Pass {
  documents: number;
  pages: number;
  /** From the first request to the last page read, ms. */
  ms: number;
  /** To the first page's documents (parsed / in the store), ms. */
  firstMs: number;
  perSecond: number;
  /** CPU ms per page: the bench process (fetch, parse, SDK, store), the server child, PostgreSQL. */
  cpuMsPerPage: { bench: number; server: number; postgres: number };
  extra?: Record<string, number>;
}

/** Runs one pass and adds its CPU per page. */
async function measured(server: ServerChild, run: () => Promise<Omit<Pass, 'cpuMsPerPage' | 'perSecond'>>): Promise<Pass> {
  const cpu0 = { bench: process.cpuUsage(), server: server.cpuSeconds(), postgres: postgresCpuSeconds() };
  const p = await run();
  const bench = process.cpuUsage(cpu0.bench);
  return {
    ...p,
    perSecond: (p.documents / p.ms) * 1000,
    cpuMsPerPage: {
      bench: round((bench.user + bench.system) / 1000 / p.pages, 2),
      server: round(((server.cpuSeconds() - cpu0.server) * 1000) / p.pages, 2),
      postgres: round(((postgresCpuSeconds() - cpu0.postgres) * 1000) / p.pages, 2),
    },
  };
}

/** Rejects with a CorrectnessError after `ms` (a stalled sync). */
function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CorrectnessError(`${what}: not done after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, stall]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- the two sides

/** Baseline: what an app would do by hand with fetch. */
function rawFetch(url: string, pageSize: number, expected: number): Promise<Omit<Pass, 'cpuMsPerPage' | 'perSecond'>> {
  return (async () => {
    let cursor: string | undefined;
    let documents = 0;
    let pages = 0;
    let firstMs = 0;
    const t0 = now();
    for (;;) {
      const res = await fetch(`${url}/documents/${COLLECTION}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ limit: pageSize, ...(cursor ? { cursor } : {}) }),
      });
      if (!res.ok) throw new CorrectnessError(`raw fetch: query answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      const page = (await res.json()) as QueryResponse;
      if (pages++ === 0) firstMs = now() - t0;
      documents += page.documents.length;
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const ms = now() - t0;
    if (documents !== expected) throw new CorrectnessError(`raw fetch: read ${documents} documents, expected ${expected}`);
    return { documents, pages, ms, firstMs };
  })();
}

/** The SDK's initial sync into `store`, then its check. */
async function sdkSync(
  url: string,
  store: Store,
  pageSize: number,
  expected: number,
  what: string,
  timeoutMs: number,
): Promise<Omit<Pass, 'cpuMsPerPage' | 'perSecond'>> {
  const t0 = now();
  const client = createClient({ url, store, pageSize });
  let connectedMs = 0;
  let firstChangeMs = 0;
  let pages = 0;
  client.on('status', (s) => {
    if (!connectedMs && s.state !== 'offline') connectedMs = now() - t0;
  });
  client.on('change', (c) => {
    if (!firstChangeMs && c.collection === COLLECTION) firstChangeMs = now() - t0;
  });
  try {
    const progress = new Promise<{ received: number; firstMs: number; ms: number }>((resolve, reject) => {
      let firstMs = 0;
      client.on('progress', (p) => {
        if (p.collection !== COLLECTION) return;
        pages++;
        if (!firstMs) firstMs = now() - t0;
        if (p.done) resolve({ received: p.received, firstMs, ms: now() - t0 });
      });
      client.on('error', (e) => reject(new CorrectnessError(`${what}: the client reported ${e.code}: ${e.message}`)));
    });
    client.collection(COLLECTION);
    const p = await deadline(progress, timeoutMs, what);
    await deadline(client.whenSynced(), timeoutMs, `${what} whenSynced`);
    const syncedMs = now() - t0;
    const count = await store.count(COLLECTION);
    if (p.received !== expected || count !== expected) {
      throw new CorrectnessError(`${what}: progress says ${p.received} documents received, the store holds ${count}; expected ${expected}`);
    }
    // The seed's document k is docData(k); spot-check one from the middle.
    const k = Math.floor(expected / 2);
    const id = `raw-w0-d${k}`;
    const rec = await store.get(COLLECTION, id);
    if (!isDeepStrictEqual(rec?.data, docData(k))) {
      throw new CorrectnessError(`${what}: record ${id} is ${JSON.stringify(rec)}, expected data ${JSON.stringify(docData(k))}`);
    }
    return {
      documents: count,
      pages,
      ms: p.ms,
      firstMs: p.firstMs,
      extra: { connectedMs: round(connectedMs, 1), firstChangeMs: round(firstChangeMs, 1), syncedMs: round(syncedMs, 1) },
    };
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------- scenario

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const passDetails = (p: Pass) => ({
  documents: p.documents,
  pages: p.pages,
  seconds: round(p.ms / 1000, 3),
  firstMs: round(p.firstMs, 1),
  perSecond: Math.round(p.perSecond),
  cpuMsPerPage: p.cpuMsPerPage,
  ...p.extra,
});

async function seed(cfg: ClientSyncConfig): Promise<number> {
  return admin(cfg.databaseUrl, async (c) => {
    const t0 = now();
    // One "worker": document k is raw-w0-d<k> with docData(k).
    const next = rawBatches(SEED_BATCH);
    for (let done = 0; done < cfg.documents; done += SEED_BATCH) {
      const [cols, ids, data] = next(0);
      const n = Math.min(SEED_BATCH, cfg.documents - done);
      await c.query(`INSERT INTO ${SCHEMA}.documents (collection, id, data) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])`, [
        cols.slice(0, n),
        ids.slice(0, n),
        data.slice(0, n),
      ]);
    }
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.documents WHERE collection = $1`, [COLLECTION]);
    if (rows[0].n !== cfg.documents) throw new CorrectnessError(`client-sync seed: ${rows[0].n} documents, expected ${cfg.documents}`);
    const secs = (now() - t0) / 1000;
    await c.query(`VACUUM ANALYZE ${SCHEMA}.documents, ${SCHEMA}.changes, ${SCHEMA}.commits`);
    return secs;
  });
}

export async function clientSync(cfg: ClientSyncConfig): Promise<Result[]> {
  const k = cfg.documents >= 1000 ? `${cfg.documents / 1000}k` : String(cfg.documents);
  const name = (pageSize: number) => `client-sync ${k} docs, page ${pageSize}`;
  const [defaultPage] = cfg.pageSizes;
  if (defaultPage === undefined) throw new Error('client-sync: no page size');
  const out: Result[] = [];
  // The row a correctness failure is reported under: the part that was running.
  let stage = { name: `${name(defaultPage)} → MemoryStore`, target: TARGET as number | null };
  try {
    cfg.log(`client-sync: seeding ${cfg.documents.toLocaleString('en-US')} documents into ${SCHEMA} with SQL`);
    await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
    const server = await startServer({
      label: 'client-sync',
      env: {
        DATABASE_URL: cfg.databaseUrl,
        SYNCLINE_SCHEMA: SCHEMA,
        SYNCLINE_MAX_QUERY_LIMIT: String(Math.max(1000, ...cfg.pageSizes)),
      },
      sockets: 1,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    try {
      const seedSeconds = await seed(cfg);
      cfg.log(`  seeded in ${seedSeconds.toFixed(1)} s`);
      const url = `http://127.0.0.1:${server.port}`;
      const raw = (size: number) => measured(server, () => rawFetch(url, size, cfg.documents));
      const memory = (size: number) =>
        measured(server, () => sdkSync(url, new MemoryStore(), size, cfg.documents, 'MemoryStore', cfg.timeoutMs));

      for (const size of cfg.pageSizes) {
        const label = name(size);
        stage = { name: `${label} → MemoryStore`, target: size === defaultPage ? TARGET : null };
        await raw(size); // warm-up (JIT, server, PostgreSQL cache), checked
        await memory(size);
        const raws: Pass[] = [];
        const mems: Pass[] = [];
        for (let i = 0; i < cfg.rounds; i++) {
          // Alternate which side goes first.
          if (i % 2 === 0) {
            raws.push(await raw(size));
            mems.push(await memory(size));
          } else {
            mems.push(await memory(size));
            raws.push(await raw(size));
          }
          const [r, m] = [raws.at(-1) as Pass, mems.at(-1) as Pass];
          cfg.log(
            `  ${label} round ${i + 1}: raw fetch ${Math.round(r.perSecond).toLocaleString('en-US')} docs/s (first page ${r.firstMs.toFixed(1)} ms); ` +
              `MemoryStore ${Math.round(m.perSecond).toLocaleString('en-US')} docs/s (first document ${m.firstMs.toFixed(1)} ms); ` +
              `bench CPU ms/page ${r.cpuMsPerPage.bench} vs ${m.cpuMsPerPage.bench}, server ${r.cpuMsPerPage.server} vs ${m.cpuMsPerPage.server}`,
          );
        }
        const details = {
          documents: cfg.documents,
          pageSize: size,
          rounds: cfg.rounds,
          seedSeconds: round(seedSeconds, 1),
          baseline: raws.map(passDetails),
          syncline: mems.map(passDetails),
        };
        out.push(
          result(
            `${label} → MemoryStore`,
            median(mems.map((p) => p.perSecond)),
            'docs/s',
            median(raws.map((p) => p.perSecond)),
            'docs/s',
            stage.target,
            details,
          ),
          result(
            `${label} → MemoryStore: first document`,
            median(mems.map((p) => p.firstMs)),
            'ms',
            median(raws.map((p) => p.firstMs)),
            'ms',
            null,
          ),
        );
      }

      // IndexedDBStore on fake-indexeddb at the default page size: rounds alternating with raw passes, like MemoryStore's.
      stage = { name: `${name(defaultPage)} → IndexedDBStore (fake-indexeddb)`, target: TARGET };
      const idb = () => {
        const store = new IndexedDBStore({
          name: `bench-client-sync-${Date.now().toString(36)}`,
          indexedDB: new IDBFactory(),
          IDBKeyRange,
        });
        return measured(server, () => sdkSync(url, store, defaultPage, cfg.documents, 'IndexedDBStore', cfg.timeoutMs));
      };
      const raws: Pass[] = [];
      const idbs: Pass[] = [];
      for (let i = 0; i < cfg.rounds; i++) {
        if (i % 2 === 0) {
          raws.push(await raw(defaultPage));
          idbs.push(await idb());
        } else {
          idbs.push(await idb());
          raws.push(await raw(defaultPage));
        }
        const [r, d] = [raws.at(-1) as Pass, idbs.at(-1) as Pass];
        cfg.log(
          `  ${name(defaultPage)} round ${i + 1}: raw fetch ${Math.round(r.perSecond).toLocaleString('en-US')} docs/s; IndexedDBStore (fake-indexeddb) ` +
            `${Math.round(d.perSecond).toLocaleString('en-US')} docs/s (first document ${d.firstMs.toFixed(1)} ms; bench CPU ${d.cpuMsPerPage.bench} ms/page)`,
        );
      }
      const idbDetails = {
        documents: cfg.documents,
        pageSize: defaultPage,
        rounds: cfg.rounds,
        baseline: raws.map(passDetails),
        syncline: idbs.map(passDetails),
      };
      out.push(
        result(
          `${name(defaultPage)} → IndexedDBStore (fake-indexeddb)`,
          median(idbs.map((p) => p.perSecond)),
          'docs/s',
          median(raws.map((p) => p.perSecond)),
          'docs/s',
          TARGET,
          idbDetails,
        ),
        result(
          `${name(defaultPage)} → IndexedDBStore: first document`,
          median(idbs.map((p) => p.firstMs)),
          'ms',
          median(raws.map((p) => p.firstMs)),
          'ms',
          null,
        ),
      );
    } finally {
      await server.stop();
      if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
    }
    return out;
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    cfg.log(`  ${err.message}`);
    return [...out, failed(stage.name, 'docs/s', 'docs/s', stage.target, err)];
  }
}
