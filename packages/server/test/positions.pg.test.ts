/**
 * DESIGN invariant 1: a reader that keeps pulling "changes after my checkpoint"
 * while many transactions commit out of order (random delays before COMMIT,
 * some rollbacks, API and direct-SQL writers mixed, on documents and on a
 * watched table whose multi-row INSERT statements are logged one row per
 * statement) ends with exactly the committed set: nothing skipped, nothing
 * twice, positions strictly increasing.
 */
import type { Change } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postgresAvailable, postgresUrl } from '../../../test/services.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { type Harness, limits, opId, postgresHarness } from './harness.js';

const available = await postgresAvailable();

describe.skipIf(!available)('positions are gap-free and duplicate-free under concurrent commits (PostgreSQL)', () => {
  let h: Harness;
  let writers: SqlClient;
  // Several storages = several server instances, each with its own sequencer.
  const instances: PostgresStorage[] = [];
  let app: string;
  beforeAll(async () => {
    h = await postgresHarness();
    writers = await createPgClient({ connectionString: postgresUrl, poolSize: 16 });
    app = `${h.schema}_app`;
    await writers.exec(`CREATE SCHEMA ${app}; CREATE TABLE ${app}.inv_t (id text PRIMARY KEY, w integer)`);
    for (let i = 0; i < 3; i++) {
      const st = new PostgresStorage(await createPgClient({ connectionString: postgresUrl, poolSize: 4 }), h.schema, limits, {
        names: ['inv_t'],
        schema: app,
      });
      await st.migrate();
      instances.push(st);
    }
  });
  afterAll(async () => {
    for (const st of instances) await st.close();
    await writers?.exec(`DROP SCHEMA IF EXISTS ${app} CASCADE`);
    await writers?.close();
    await h?.close();
  });

  // Races are probabilistic: several independent rounds make a broken ordering show up reliably.
  test.each([1, 2, 3, 4])(
    'round %i: a concurrent reader sees every committed change exactly once, and no rolled-back one',
    async (round) => {
      const c = `inv${round}`;
      const committed = new Set<string>();
      const rolledBack = new Set<string>();
      const rand = (n: number) => Math.floor(Math.random() * n);

      const sqlWriter = async (w: number) => {
        for (let t = 0; t < 20; t++) {
          const ids = Array.from({ length: 1 + rand(4) }, (_, i) => `s${round}-${w}-${t}-${i}`);
          const rollback = rand(5) === 0;
          try {
            await writers.transaction(async (tx) => {
              await tx.query(
                `INSERT INTO ${h.schema}.documents (collection, id, data) SELECT $1, id, '{}'::jsonb FROM unnest($2::text[]) AS id`,
                [c, ids],
              );
              await tx.query('SELECT pg_sleep($1)', [rand(40) / 1000]);
              if (rollback) throw new Error('rollback');
            });
            for (const id of ids) committed.add(id);
          } catch (err) {
            if ((err as Error).message !== 'rollback') throw err;
            for (const id of ids) rolledBack.add(id);
          }
        }
      };
      // Rows of the watched table: one or two multi-row INSERT statements per transaction.
      const tableWriter = async (w: number) => {
        for (let t = 0; t < 20; t++) {
          const first = Array.from({ length: 1 + rand(5) }, (_, i) => `t${round}-${w}-${t}-a${i}`);
          const second = rand(2) === 0 ? Array.from({ length: 1 + rand(3) }, (_, i) => `t${round}-${w}-${t}-b${i}`) : [];
          const rollback = rand(5) === 0;
          try {
            await writers.transaction(async (tx) => {
              await tx.query(`INSERT INTO ${app}.inv_t (id, w) SELECT id, $2 FROM unnest($1::text[]) AS id`, [first, w]);
              await tx.query('SELECT pg_sleep($1)', [rand(30) / 1000]);
              if (second.length > 0)
                await tx.query(`INSERT INTO ${app}.inv_t (id, w) SELECT id, $2 FROM unnest($1::text[]) AS id`, [second, w]);
              if (rollback) throw new Error('rollback');
            });
            for (const id of [...first, ...second]) committed.add(id);
          } catch (err) {
            if ((err as Error).message !== 'rollback') throw err;
            for (const id of [...first, ...second]) rolledBack.add(id);
          }
        }
      };
      const apiWriter = async (w: number) => {
        const storage = instances[w % instances.length] as PostgresStorage;
        for (let t = 0; t < 20; t++) {
          const ids = Array.from({ length: 1 + rand(6) }, (_, i) => `a${round}-${w}-${t}-${i}`);
          const res = await storage.applyOperations(
            `client-${w}`,
            ids.map((id) => ({ id: opId(), type: 'insert', collection: c, docId: id, data: { w } })),
          );
          for (const r of res.results) {
            expect(r.status).toBe('applied');
            committed.add(r.docId as string);
          }
          await new Promise((r) => setTimeout(r, rand(10)));
        }
      };

      const seen: Change[] = [];
      // The reader is an instance that watches the table (it reads inserted rows from it).
      const readerStorage = instances[0] as PostgresStorage;
      let since = await readerStorage.currentPosition();
      let done = false;
      let pulls = 0;
      const reader = (async () => {
        for (;;) {
          const finished = done;
          const page = await readerStorage.getChanges({ since, limit: 25 });
          pulls++;
          seen.push(...page.operations);
          since = page.checkpoint;
          if (!page.hasMore) {
            if (finished) return;
            await new Promise((r) => setTimeout(r, 3));
          }
        }
      })();

      await Promise.all([
        ...Array.from({ length: 8 }, (_, w) => sqlWriter(w)),
        ...Array.from({ length: 4 }, (_, w) => tableWriter(w)),
        ...Array.from({ length: 4 }, (_, w) => apiWriter(w)),
      ]);
      done = true;
      await reader;

      const positions = seen.map((x) => x.position);
      for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1] as number);
      const ids = seen.filter((x) => x.collection === c || x.collection === 'inv_t').map((x) => x.docId);
      expect(seen.filter((x) => x.collection === 'inv_t').length).toBeGreaterThan(50);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(committed);
      for (const id of rolledBack) expect(ids).not.toContain(id);
      expect(committed.size).toBeGreaterThan(600);
      expect(pulls).toBeGreaterThan(10); // the reader really ran alongside the writers
    },
    120_000,
  );
});
