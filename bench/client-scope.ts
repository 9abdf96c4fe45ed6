/**
 * Scoped sync (issue 15.3): syncing the 1,000 documents of one category out of
 * 100,000 costs about what syncing a 1,000-document collection does.
 *
 *   client-scope  One server child on PostgreSQL (schema bench_client_scope); seeded with SQL:
 *           `scope_all` (`documents`, default 100,000; document i `{category: i % 100, price, title}`, so each
 *           category holds documents ÷ 100) and `scope_one` (documents ÷ 100 documents, the same shape).
 *           Alternating rounds of:
 *           - baseline: `createClient({url, store: new MemoryStore()})`, `collection('scope_one')`, until
 *             `whenSynced()` (initial pages loaded, the subscription live);
 *           - syncline: the same with `collection('scope_all', {where: {category: 7}})` (the server filters the
 *             pages and the subscription).
 *           The database has the index the README suggests for scopes on a large collection:
 *           `CREATE INDEX ... ON documents (collection, (data -> 'category'), id)` (without it each scoped page scans
 *           the collection's rows in id order, ~50,000 per page here).
 *           Time from createClient to whenSynced; medians; target scoped ÷ baseline ≤ 1.5.
 *           Correctness: each replica holds exactly the expected documents (count, and every one in category 7).
 */
import type { Filter } from '@syncline/protocol';
import { createClient, MemoryStore } from '../packages/client/src/index.js';
import { admin, CorrectnessError, now, round, type ServerChild, startServer } from './harness.js';
import { failed, type Result, result } from './report.js';
import type { RoutingConfig } from './routing.js';

export interface ClientScopeConfig extends Pick<RoutingConfig, 'databaseUrl' | 'keep' | 'cpuProfDir' | 'log'> {
  documents: number;
  rounds: number;
  timeoutMs: number;
}

const SCHEMA = 'bench_client_scope';
const TARGET = 1.5;
const CATEGORIES = 100;
const CATEGORY = 7;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function seed(cfg: ClientScopeConfig, collection: string, n: number, category: (i: string) => string): Promise<void> {
  await admin(cfg.databaseUrl, async (c) => {
    await c.query(
      `INSERT INTO ${SCHEMA}.documents (collection, id, data)
       SELECT $1, 'd' || lpad(i::text, 6, '0'),
              jsonb_build_object('category', ${category('i')}, 'price', (i * 7919) % 10000, 'title', 'Item ' || i)
       FROM generate_series(0, $2::int - 1) AS i`,
      [collection, n],
    );
  });
}

async function syncOnce(url: string, collection: string, where: Filter | undefined, expected: number, timeoutMs: number) {
  const t0 = now();
  const client = createClient({ url, store: new MemoryStore() });
  try {
    client.collection(collection, where ? { where } : {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.whenSynced(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new CorrectnessError(`client-scope: ${collection} not synced after ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const ms = now() - t0;
    const records = await client.store.find(collection);
    if (records.length !== expected || records.some((r) => r.data.category !== CATEGORY)) {
      throw new CorrectnessError(
        `client-scope: the ${collection} replica holds ${records.length} documents (expected ${expected}, all of category ${CATEGORY}); ` +
          `categories seen: ${[...new Set(records.map((r) => r.data.category))].slice(0, 10).join(', ')}`,
      );
    }
    return ms;
  } finally {
    await client.close();
  }
}

export async function clientScope(cfg: ClientScopeConfig): Promise<Result[]> {
  const k = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));
  const matching = Math.floor(cfg.documents / CATEGORIES);
  const name = `client-scope ${k(matching)} of ${k(cfg.documents)} docs (where category) vs a ${k(matching)}-doc collection`;
  try {
    if (cfg.documents % CATEGORIES !== 0) throw new Error(`client-scope: documents must be a multiple of ${CATEGORIES}`);
    await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
    const server: ServerChild = await startServer({
      label: 'client-scope',
      env: { DATABASE_URL: cfg.databaseUrl, SYNCLINE_SCHEMA: SCHEMA },
      sockets: 1,
      ...(cfg.cpuProfDir ? { cpuProfDir: cfg.cpuProfDir } : {}),
    });
    try {
      cfg.log(`client-scope: seeding ${cfg.documents.toLocaleString('en-US')} + ${matching.toLocaleString('en-US')} documents with SQL`);
      await seed(cfg, 'scope_all', cfg.documents, (i) => `${i} % ${CATEGORIES}`);
      await seed(cfg, 'scope_one', matching, () => String(CATEGORY));
      // What the README tells an operator to add for a scope on a large collection: an expression index the
      // server's query pages use (it repeats top-level equalities in that form).
      await admin(cfg.databaseUrl, async (c) => {
        await c.query(`CREATE INDEX documents_category ON ${SCHEMA}.documents (collection, (data -> 'category'), id)`);
        await c.query(`VACUUM ANALYZE ${SCHEMA}.documents`);
      });
      const url = `http://127.0.0.1:${server.port}`;
      const base = () => syncOnce(url, 'scope_one', undefined, matching, cfg.timeoutMs);
      const scoped = () => syncOnce(url, 'scope_all', { category: CATEGORY }, matching, cfg.timeoutMs);
      await base();
      await scoped();
      const b: number[] = [];
      const s: number[] = [];
      for (let r = 0; r < cfg.rounds; r++) {
        if (r % 2 === 0) {
          b.push(await base());
          s.push(await scoped());
        } else {
          s.push(await scoped());
          b.push(await base());
        }
      }
      cfg.log(
        `  sync to whenSynced, median of ${cfg.rounds}: ${k(matching)}-doc collection ${median(b).toFixed(1)} ms; scoped ${median(s).toFixed(1)} ms`,
      );
      const main = result(name, median(s), 'ms', median(b), 'ms', null, {
        documents: cfg.documents,
        matching,
        rounds: cfg.rounds,
        baselineMs: b.map((x) => round(x, 1)),
        scopedMs: s.map((x) => round(x, 1)),
      });
      return [{ ...main, target: TARGET, targetLabel: `≤ ${TARGET.toFixed(1)}×`, pass: main.ratio <= TARGET }];
    } finally {
      await server.stop();
      if (!cfg.keep) await admin(cfg.databaseUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
    }
  } catch (err) {
    if (!(err instanceof CorrectnessError)) throw err;
    cfg.log(`  ${err.message}`);
    return [{ ...failed(name, 'ms', 'ms', TARGET, err), targetLabel: `≤ ${TARGET.toFixed(1)}×` }];
  }
}
