/**
 * `POST /changes` with a time instead of a position (reference 004, SyncFlow): its clients send the newest
 * `timestamp` they saw as `since`. Run on PGlite, PostgreSQL and MariaDB by changes-since-time*.test.ts.
 */
import type { Change } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestServer } from './server-harness.js';

async function post(url: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

const until = (ms: number) =>
  new Promise<void>((resolve) => {
    const wait = () => (Date.now() > ms ? resolve() : setTimeout(wait, 2));
    wait();
  });

export function registerSinceTimeTests(name: string, makeServer: () => Promise<TestServer>): void {
  describe(`POST /changes since a time: ${name}`, () => {
    let s: TestServer;
    const col = `since_time_${Math.random().toString(36).slice(2, 8)}`;
    const insert = async (id: string) => {
      const r = await post(s.url, '/operations', {
        clientId: 'syncflow-client',
        operations: [{ id: `op-${col}-${id}`, type: 'insert', collection: col, docId: id, data: { title: id } }],
      });
      expect(r.status).toBe(200);
    };
    const mine = (ops: unknown) => (ops as Change[]).filter((c) => c.collection === col);

    beforeAll(async () => {
      s = await makeServer();
    }, 120_000);
    afterAll(() => s?.close());

    test("a since beyond the head is a SyncFlow client's timestamp: the changes committed at or after it, with their times", async () => {
      await insert('a');
      await until(Date.now() + 20);
      const t = Date.now();
      await until(t + 20);
      await insert('b');
      await insert('c');
      // What the reference's README shows: since 1234567890 (long before anything here) serves everything.
      const all = await post(s.url, '/changes', { since: 1234567890, limit: 1000, clientId: 'syncflow-client' });
      expect(all.status).toBe(200);
      expect(mine(all.body.operations).map((c) => c.docId)).toEqual(['a', 'b', 'c']);

      const after = await post(s.url, '/changes', { since: t, limit: 1000 });
      const got = mine(after.body.operations);
      expect(got.map((c) => c.docId)).toEqual(['b', 'c']);
      for (const c of got) expect(c.timestamp).toBeGreaterThanOrEqual(t);
      // The client's next request (the newest timestamp it saw) gets the last change again at most, never an older one.
      const newest = Math.max(...got.map((c) => c.timestamp));
      const next = await post(s.url, '/changes', { since: newest, limit: 1000 });
      expect(mine(next.body.operations).map((c) => c.docId)).toEqual(['c']);
      // A time after every commit: nothing, and a checkpoint that works as a position from then on.
      const later = await post(s.url, '/changes', { since: Date.now() + 60_000, limit: 1000 });
      expect(mine(later.body.operations)).toEqual([]);
      await insert('d');
      const resumed = await post(s.url, '/changes', { since: later.body.checkpoint, limit: 1000 });
      expect(mine(resumed.body.operations).map((c) => c.docId)).toEqual(['d']);
    });

    test('sinceTimestamp explicitly; positions keep working as positions', async () => {
      const t = Date.now();
      await until(t + 5);
      await insert('e');
      const r = await post(s.url, '/changes', { sinceTimestamp: t, limit: 1000 });
      expect(mine(r.body.operations).map((c) => c.docId)).toEqual(['e']);
      const everything = mine((await post(s.url, '/changes', { since: 0, limit: 1000 })).body.operations);
      expect(everything.map((c) => c.docId)).toEqual(['a', 'b', 'c', 'd', 'e']);
      const c = everything[2] as Change;
      const byPosition = await post(s.url, '/changes', { since: c.position, limit: 1000 });
      expect(mine(byPosition.body.operations).map((ch) => ch.docId)).toEqual(['d', 'e']);
      const bad = await post(s.url, '/changes', { sinceTimestamp: -5 });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    test('a time older than what compaction kept is RESYNC_REQUIRED, as a position below the horizon is', async () => {
      const t = Date.now();
      await until(t + 5);
      await insert('f');
      const compacted = await post(s.url, '/compact', { olderThanDays: 0 });
      expect(compacted.status).toBe(200);
      await insert('g');
      const old = await post(s.url, '/changes', { since: 1234567890 });
      expect(old.status).toBe(410);
      expect(old.body).toMatchObject({ code: 'RESYNC_REQUIRED' });
      expect((await post(s.url, '/changes', { sinceTimestamp: t })).status).toBe(410);
      // After the horizon, times work again.
      const t2 = Date.now();
      await until(t2 + 5);
      await insert('h');
      expect(mine((await post(s.url, '/changes', { sinceTimestamp: t2 })).body.operations).map((c) => c.docId)).toEqual(['h']);
    });
  });
}
