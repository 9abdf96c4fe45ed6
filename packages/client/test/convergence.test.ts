/**
 * Convergence property (issue 7): several clients make random inserts, updates
 * and deletes through random offline periods and restarts (IndexedDB via
 * fake-indexeddb, reopened by a new client), under a random conflict strategy.
 * At quiescence every replica equals the server, every acknowledged write is in
 * the change log exactly once, and no operation id was applied twice.
 */

import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { type ConflictStrategy, createClient, type Doc, type SynclineClient } from '../src/client.js';
import { IndexedDBStore } from '../src/store/indexeddb-store.js';

const RUNS = Number(process.env.CONVERGENCE_RUNS ?? 200);
const CLIENTS = 3;
const IDS = ['a', 'b', 'c', 'd'];

let srv: TestServer;
beforeAll(async () => {
  srv = await startPgliteServer();
});
afterAll(() => srv?.close());

type Cmd =
  | { kind: 'insert' | 'update' | 'delete'; client: number; id: string; value: number }
  | { kind: 'pause' | 'resume' | 'restart'; client: number };

const cmd = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('insert', 'update', 'delete'),
      client: fc.nat(CLIENTS - 1),
      id: fc.constantFrom(...IDS),
      value: fc.nat(99),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('pause', 'resume', 'restart'), client: fc.nat(CLIENTS - 1) }) },
) as fc.Arbitrary<Cmd>;

const visible = (docs: { _id: string }[]) =>
  docs.map((d) => {
    const { _rev, _hlc, ...rest } = d as Doc;
    return rest;
  });

async function until(check: () => Promise<boolean>, what: () => Promise<string>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`did not converge: ${await what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let run = 0;
const noop = () => {};

test(`replicas converge with the server through offline periods and restarts (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(cmd, { minLength: 5, maxLength: 25 }),
      fc.constantFrom<ConflictStrategy>('server-wins', 'client-wins', 'merge'),
      async (cmds, conflict) => {
        const col = `conv${++run}`;
        const factory = new IDBFactory();
        const paused = new Array<boolean>(CLIENTS).fill(false);
        const open = (i: number) =>
          createClient({
            url: srv.url,
            store: new IndexedDBStore({ name: `c${i}`, indexedDB: factory, IDBKeyRange }),
            conflict,
            paused: paused[i],
            socketOptions: { transports: ['websocket'] },
          });
        const clients: SynclineClient[] = Array.from({ length: CLIENTS }, (_, i) => open(i));
        /** Acknowledged writes: the document and the version the server gave it. */
        const acked: { id: string; rev: number }[] = [];
        const writes: Promise<unknown>[] = [];
        const ack = (id: string, o: { document: Doc | null }) => acked.push({ id, rev: o.document?._rev ?? 0 });
        try {
          for (const c of cmds) {
            const client = clients[c.client] as SynclineClient;
            const docs = client.collection(col);
            switch (c.kind) {
              case 'insert':
                writes.push(docs.insert({ _id: c.id, v: c.value, by: c.client }).then((o) => ack(c.id, o), noop));
                break;
              case 'update':
                writes.push(docs.update(c.id, { v: c.value }).then((o) => ack(c.id, o), noop));
                break;
              case 'delete':
                writes.push(docs.delete(c.id).then((o) => ack(c.id, o), noop));
                break;
              case 'pause':
                paused[c.client] = true;
                client.pause();
                break;
              case 'resume':
                paused[c.client] = false;
                client.resume();
                break;
              case 'restart':
                // A process restart: what was not acknowledged stays in the store's queue.
                await client.close();
                clients[c.client] = open(c.client);
                break;
            }
            await new Promise((r) => setTimeout(r, Math.random() < 0.3 ? 5 : 0));
          }
          for (const c of clients) c.resume();
          await Promise.allSettled(writes);
          const server = async () =>
            visible((await srv.server.storage.queryDocuments(col, { limit: 100 })).documents).sort((x, y) =>
              String(x._id).localeCompare(String(y._id)),
            );
          await until(
            async () => {
              const want = JSON.stringify(await server());
              for (const c of clients) if (JSON.stringify(visible(await c.collection(col).find())) !== want) return false;
              return clients.every((c) => c.status.state === 'online');
            },
            async () =>
              JSON.stringify({
                server: await server(),
                clients: await Promise.all(clients.map(async (c) => ({ status: c.status, docs: visible(await c.collection(col).find()) }))),
              }),
          );
          // Each document's version counts the writes applied to it (deletes too: the tombstone keeps
          // counting). So the versions add up to the applied operations the server recorded exactly when
          // no operation was applied twice, and no acknowledged write is above its document's version.
          const raw = srv.server.storage as unknown as {
            db: { query<T>(sql: string, p: unknown[]): Promise<{ rows: T[] }> };
            schemaName: string;
          };
          // Deleted documents stay as tombstones with their version.
          const docs = await raw.db.query<{ id: string; version: number }>(
            `SELECT id, version FROM ${raw.schemaName}.documents WHERE collection = $1`,
            [col],
          );
          const version = new Map(docs.rows.map((r) => [r.id, Number(r.version)]));
          const { rows } = await raw.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${raw.schemaName}.operations WHERE collection = $1 AND status = 'applied'`,
            [col],
          );
          expect([...version.values()].reduce((a, b) => a + b, 0)).toBe(rows[0]?.n);
          for (const a of acked) {
            if (a.rev > 0) expect(version.get(a.id) ?? 0).toBeGreaterThanOrEqual(a.rev);
            else expect(version.has(a.id)).toBe(true);
          }
        } finally {
          for (const c of clients) await c.close();
        }
      },
    ),
    { numRuns: RUNS },
  );
}, 600_000);
