/**
 * DESIGN invariant 1 on MySQL/MariaDB: a reader pulling "changes after my
 * checkpoint" while many transactions commit out of order (random delays
 * before COMMIT, rollbacks, API and direct-SQL writers, three server instances
 * each with its own consumer) ends with exactly the committed set.
 */
import type { Change } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mysqlAvailable } from '../../../test/services.js';
import type { MysqlClient } from '../src/storage/mysql/mysql-client.js';
import type { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import { type Harness, opId } from './harness.js';
import { mysqlHarness, openMysqlClient, openMysqlStorage } from './mysql-harness.js';

const available = await mysqlAvailable();

describe.skipIf(!available)('positions are gap-free and duplicate-free under concurrent commits (MySQL/MariaDB)', () => {
  let h: Harness;
  let writers: MysqlClient;
  const instances: MysqlStorage[] = [];
  beforeAll(async () => {
    h = await mysqlHarness();
    writers = await openMysqlClient();
    for (let i = 0; i < 3; i++) instances.push(await openMysqlStorage(h.schema, { pollIntervalMs: 20 + i * 15 }));
  });
  afterAll(async () => {
    for (const st of instances) await st.close();
    await writers?.close();
    await h?.close();
  });

  test.each([1, 2, 3])(
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
              await tx.query(`INSERT INTO ${h.table('documents')} (collection, id, data) VALUES ?`, [ids.map((id) => [c, id, '{}'])]);
              await tx.query('SELECT SLEEP(?)', [rand(40) / 1000]);
              if (rollback) throw new Error('rollback');
            });
            for (const id of ids) committed.add(id);
          } catch (err) {
            if ((err as Error).message !== 'rollback') throw err;
            for (const id of ids) rolledBack.add(id);
          }
        }
      };
      const apiWriter = async (w: number) => {
        const storage = instances[w % instances.length] as MysqlStorage;
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
      let since = await h.storage.currentPosition();
      let done = false;
      let pulls = 0;
      const reader = (async () => {
        for (;;) {
          const finished = done;
          const page = await h.storage.getChanges({ since, limit: 25 });
          pulls++;
          seen.push(...page.operations);
          since = page.checkpoint;
          if (!page.hasMore) {
            if (finished) return;
            await new Promise((r) => setTimeout(r, 3));
          }
        }
      })();

      await Promise.all([...Array.from({ length: 10 }, (_, w) => sqlWriter(w)), ...Array.from({ length: 4 }, (_, w) => apiWriter(w))]);
      done = true;
      await reader;

      const positions = seen.map((x) => x.position);
      for (let i = 1; i < positions.length; i++) expect(positions[i]).toBe((positions[i - 1] as number) + 1);
      const ids = seen.map((x) => x.docId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(committed);
      for (const id of rolledBack) expect(ids).not.toContain(id);
      expect(committed.size).toBeGreaterThan(600);
      expect(pulls).toBeGreaterThan(10);
    },
    120_000,
  );
});
