/**
 * The Storage conformance suite: every Storage implementation runs all of it
 * against its real backend (storage.pglite.test.ts, storage.pg.test.ts).
 */
import type { Change, OperationResult } from '@syncline/protocol';
import { SynclineError } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postgresUrl } from '../../../test/services.js';
import type { Caller } from '../src/storage/operation-scope.js';
import { freshCollection, type Harness, type HarnessFactory, opId } from './harness.js';

type Op = Record<string, unknown>;
const ins = (collection: string, docId: string, data: Record<string, unknown>, extra: Op = {}): Op => ({
  id: opId(),
  type: 'insert',
  collection,
  docId,
  data,
  ...extra,
});

/** All changes of one collection after `since`, paging with a small limit. */
/** Polls `check` until it holds; fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function pullAll(h: Harness, since = 0, collection?: string, limit = 7): Promise<Change[]> {
  const out: Change[] = [];
  let cursor = since;
  for (;;) {
    const page = await h.storage.getChanges({ since: cursor, limit });
    out.push(...page.operations);
    expect(page.checkpoint).toBeGreaterThanOrEqual(cursor);
    cursor = page.checkpoint;
    if (!page.hasMore) break;
  }
  return collection ? out.filter((c) => c.collection === collection) : out;
}

export function registerStorageTests(name: string, factory: HarnessFactory): void {
  describe(`Storage conformance: ${name}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await factory();
    });
    afterAll(async () => {
      await h?.close();
    });

    test('migrations are versioned and applying them again changes nothing', async () => {
      expect(await h.storage.migrate()).toEqual([]);
      const { rows } = await h.sql.query<{ version: number }>(`SELECT version FROM ${h.table('migrations')}`);
      expect(rows.map((r) => r.version).sort()).toEqual(h.migrations);
    });

    test('insert returns the document as {_id, _rev, ...fields} with a position, and get reads it back', async () => {
      const c = freshCollection();
      const op = ins(c, 'd1', { title: 'Buy milk', completed: false });
      const res = await h.storage.applyOperations('client-a', [op]);
      const r = res.results[0] as OperationResult;
      expect(r).toMatchObject({ id: op.id, status: 'applied', document: { _id: 'd1', _rev: 1, title: 'Buy milk', completed: false } });
      expect(r.vectorClock).toEqual({ 'client-a': 1 });
      expect(r.position).toBeGreaterThan(0);
      expect(res.accepted.map((a) => a.id)).toEqual([op.id]);
      expect(res.conflicts).toEqual([]);
      expect(await h.storage.getDocument(c, 'd1')).toEqual({ _id: 'd1', _rev: 1, title: 'Buy milk', completed: false });
      expect(await h.storage.getDocument(c, 'missing')).toBeNull();
    });

    test('insert without docId gets a generated id that a retry returns again', async () => {
      const c = freshCollection();
      const op = { id: opId(), type: 'insert', collection: c, data: { a: 1 } };
      const first = (await h.storage.applyOperations('x', [op])).results[0] as OperationResult;
      expect(first.status).toBe('applied');
      expect(first.docId).toMatch(/^[0-9a-f-]{36}$/);
      const again = (await h.storage.applyOperations('x', [op])).results[0] as OperationResult;
      expect(again).toMatchObject({ status: 'duplicate', originalStatus: 'applied', docId: first.docId });
      expect((await h.storage.queryDocuments(c, {})).count).toBe(1);
    });

    test('update replaces, patch merges shallowly, upsert creates or replaces, delete leaves a tombstone', async () => {
      const c = freshCollection();
      const res = await h.storage.applyOperations('w', [
        ins(c, 'd', { a: 1, b: { x: 1 } }),
        { id: opId(), type: 'update', collection: c, docId: 'd', data: { a: 2 } },
        { id: opId(), type: 'patch', collection: c, docId: 'd', data: { b: { y: 2 }, c: 3 } },
        { id: opId(), type: 'upsert', collection: c, docId: 'e', data: { u: 1 } },
        { id: opId(), type: 'upsert', collection: c, docId: 'e', data: { u: 2 } },
      ]);
      expect(res.results.map((r) => r.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
      expect(await h.storage.getDocument(c, 'd')).toEqual({ _id: 'd', _rev: 3, a: 2, b: { y: 2 }, c: 3 });
      expect(await h.storage.getDocument(c, 'e')).toEqual({ _id: 'e', _rev: 2, u: 2 });

      const del = await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'd' }]);
      expect(del.results[0]).toMatchObject({ status: 'applied', document: null });
      expect(await h.storage.getDocument(c, 'd')).toBeNull();
      const changes = await pullAll(h, 0, c);
      const last = changes.filter((x) => x.docId === 'd').at(-1);
      expect(last).toMatchObject({ type: 'delete', data: null, version: 4, source: 'api', clientId: 'w' });

      // Re-inserting a deleted id continues its version history.
      const again = await h.storage.applyOperations('w', [ins(c, 'd', { back: true })]);
      expect(again.results[0]).toMatchObject({ status: 'applied', document: { _id: 'd', _rev: 5, back: true } });
    });

    test('reserved _id/_rev fields in data are not stored as fields', async () => {
      const c = freshCollection();
      await h.storage.applyOperations('w', [ins(c, 'd', { _id: 'other', _rev: 99, a: 1 })]);
      expect(await h.storage.getDocument(c, 'd')).toEqual({ _id: 'd', _rev: 1, a: 1 });
    });

    test('operations in one request apply in order; one bad operation fails alone', async () => {
      const c = freshCollection();
      const ops = [
        ins(c, 'a', { n: 1 }),
        { id: opId(), type: 'explode', collection: c, docId: 'a', data: {} },
        { id: opId(), type: 'update', collection: c, docId: 'missing', data: {} },
        { id: opId(), type: 'insert', collection: 'bad name!', docId: 'z', data: {} },
        { id: opId(), type: 'update', collection: c, docId: 'a' },
        ins(c, 'a', { n: 'again' }),
        { id: opId(), type: 'patch', collection: c, docId: 'a', data: { m: 2 } },
        'not an object',
      ];
      const res = await h.storage.applyOperations('w', ops);
      expect(res.results.map((r) => [r.status, r.error?.code])).toEqual([
        ['applied', undefined],
        ['rejected', 'VALIDATION_FAILED'],
        ['rejected', 'DOCUMENT_NOT_FOUND'],
        ['rejected', 'INVALID_COLLECTION'],
        ['rejected', 'VALIDATION_FAILED'],
        ['conflict', 'DOCUMENT_EXISTS'],
        ['applied', undefined],
        ['rejected', 'VALIDATION_FAILED'],
      ]);
      expect(res.results[1]?.error?.message).toContain('operations[1].type');
      expect(res.results[4]?.error?.message).toContain('operations[4].data');
      expect(res.results[5]?.serverDocument).toEqual({ _id: 'a', _rev: 1, n: 1 });
      expect(await h.storage.getDocument(c, 'a')).toEqual({ _id: 'a', _rev: 2, n: 1, m: 2 });
      expect(res.conflicts.map((x) => x.reason)).toEqual(['exists']);
    });

    test('__proto__ keys in data are refused and pollute nothing', async () => {
      const c = freshCollection();
      const data = JSON.parse('{"a":1,"nested":{"__proto__":{"polluted":true}}}');
      const res = await h.storage.applyOperations('w', [ins(c, 'p', data), ins(c, 'ok', { constructor: 'Ferrari' })]);
      expect(res.results[0]).toMatchObject({ status: 'rejected', error: { code: 'FORBIDDEN_KEY' } });
      expect(res.results[1]?.status).toBe('applied');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await h.storage.getDocument(c, 'p')).toBeNull();
      expect(await h.storage.getDocument(c, 'ok')).toEqual({ _id: 'ok', _rev: 1, constructor: 'Ferrari' });
    });

    test('a repeated operation id returns the original result and is not applied again', async () => {
      const c = freshCollection();
      const op = ins(c, 'd', { v: 1 });
      const first = await h.storage.applyOperations('w', [op]);
      // Same id in a later request, with the same content (twice): the original result.
      const replay = await h.storage.applyOperations('w', [{ ...op }, { ...op, timestamp: 1 }]);
      for (const r of replay.results) {
        expect(r).toMatchObject({ id: op.id, status: 'duplicate', originalStatus: 'applied', document: first.results[0]?.document });
      }
      expect(replay.accepted).toHaveLength(2);
      expect(await h.storage.getDocument(c, 'd')).toEqual({ _id: 'd', _rev: 1, v: 1 });
      expect((await pullAll(h, 0, c)).length).toBe(1);

      // Once the document has moved on, a duplicate still reports the original
      // outcome (status, version, clock) but no longer the document body.
      await h.storage.applyOperations('w', [{ id: opId(), type: 'patch', collection: c, docId: 'd', data: { v: 9 } }]);
      const later = (await h.storage.applyOperations('w', [op])).results[0];
      expect(later).toMatchObject({ status: 'duplicate', originalStatus: 'applied', version: 1, vectorClock: { w: 1 } });
      expect(later?.document).toBeUndefined();

      // A conflict is stored too: retrying it reports the same conflict.
      const clash = ins(c, 'd', { v: 3 });
      const r1 = (await h.storage.applyOperations('w', [clash])).results[0];
      const r2 = (await h.storage.applyOperations('w', [clash])).results[0];
      expect(r1?.status).toBe('conflict');
      expect(r2).toMatchObject({ status: 'duplicate', originalStatus: 'conflict', error: { code: 'DOCUMENT_EXISTS' } });
    });

    test('operation ids are scoped to the caller: two users (or two anonymous clients) with one id are both applied, each sees only its own result', async () => {
      const c = freshCollection();
      const id = opId();
      const u0: Caller = { clientId: `${c}-c0`, userId: 'u0' };
      const u1: Caller = { clientId: `${c}-c1`, userId: 'u1' };
      const r0 = (await h.storage.applyOperations(u0, [{ id, type: 'insert', collection: c, docId: 'a', data: { who: 'u0' } }])).results[0];
      const res1 = await h.storage.applyOperations(u1, [{ id, type: 'insert', collection: c, docId: 'b', data: { who: 'u1' } }]);
      expect(r0).toMatchObject({ id, status: 'applied', docId: 'a' });
      expect(res1.results[0]).toMatchObject({ id, status: 'applied', docId: 'b', document: { _id: 'b', who: 'u1' } });
      expect(res1.accepted).toHaveLength(1);
      expect(await h.storage.getDocument(c, 'b')).toEqual({ _id: 'b', _rev: 1, who: 'u1' });
      // A retry gets its own caller's original, never the other's.
      const again1 = (await h.storage.applyOperations(u1, [{ id, type: 'insert', collection: c, docId: 'b', data: { who: 'u1' } }]))
        .results[0];
      expect(again1).toMatchObject({ status: 'duplicate', originalStatus: 'applied', docId: 'b', vectorClock: { [u1.clientId]: 1 } });
      expect(JSON.stringify(again1)).not.toContain('u0');
      const again0 = (await h.storage.applyOperations(u0, [{ id, type: 'insert', collection: c, docId: 'a', data: { who: 'u0' } }]))
        .results[0];
      expect(again0).toMatchObject({ status: 'duplicate', docId: 'a' });
      // The same user from another of its clients: the same scope, so the same operation.
      const u0b: Caller = { clientId: `${c}-c0b`, userId: 'u0' };
      expect(
        (await h.storage.applyOperations(u0b, [{ id, type: 'insert', collection: c, docId: 'a', data: { who: 'u0' } }])).results[0],
      ).toMatchObject({ status: 'duplicate', docId: 'a' });
      // Open mode: no users, the client id is the scope.
      const anon = opId();
      const a1 = await h.storage.applyOperations(`${c}-x`, [{ id: anon, type: 'insert', collection: c, docId: 'x', data: {} }]);
      const a2 = await h.storage.applyOperations(`${c}-y`, [{ id: anon, type: 'insert', collection: c, docId: 'y', data: {} }]);
      const a3 = await h.storage.applyOperations(`${c}-x`, [{ id: anon, type: 'insert', collection: c, docId: 'x', data: {} }]);
      expect([a1.results[0]?.status, a2.results[0]?.status, a3.results[0]?.status]).toEqual(['applied', 'applied', 'duplicate']);
      expect((await pullAll(h, 0, c)).map((x) => x.docId).sort()).toEqual(['a', 'b', 'x', 'y']);
    });

    test('the same id from the same caller with a different body is IDEMPOTENCY_KEY_REUSED and applies nothing', async () => {
      const c = freshCollection();
      const u: Caller = { clientId: `${c}-c`, userId: 'reuser' };
      const op = ins(c, 'd', { v: 1 });
      await h.storage.applyOperations(u, [op]);
      const changed = await h.storage.applyOperations(u, [{ ...op, data: { v: 2 } }, { ...op, docId: 'other' }, { ...op }]);
      for (const r of changed.results.slice(0, 2)) {
        expect(r).toMatchObject({ id: op.id, status: 'rejected', error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
        expect(r).not.toHaveProperty('document');
        expect(r).not.toHaveProperty('vectorClock');
      }
      expect(changed.results[2]).toMatchObject({ status: 'duplicate', originalStatus: 'applied' });
      expect(changed.accepted).toHaveLength(1);
      // Within one batch too: a second body under a new id is refused, the first applied.
      const fresh = ins(c, 'e', { v: 1 });
      const batch = await h.storage.applyOperations(u, [fresh, { ...fresh, data: { v: 9 } }]);
      expect(batch.results.map((r) => r.status)).toEqual(['applied', 'rejected']);
      expect(batch.results[1]?.error?.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await h.storage.getDocument(c, 'd')).toEqual({ _id: 'd', _rev: 1, v: 1 });
      expect(await h.storage.getDocument(c, 'e')).toEqual({ _id: 'e', _rev: 1, v: 1 });
      expect(await h.storage.getDocument(c, 'other')).toBeNull();
      // A generated docId is not part of the body: the same insert without one is the same operation.
      const gen = { id: opId(), type: 'insert', collection: c, data: { g: 1 } };
      const g1 = (await h.storage.applyOperations(u, [gen])).results[0];
      const g2 = (await h.storage.applyOperations(u, [gen])).results[0];
      expect(g2).toMatchObject({ status: 'duplicate', docId: g1?.docId });
    });

    test('a client id belongs to the first user that uses it: another user is refused with CLIENT_ID_TAKEN, also after a restart', async () => {
      const c = freshCollection();
      const clientId = `${c}-owned`;
      const owner: Caller = { clientId, userId: 'owner' };
      const other: Caller = { clientId, userId: 'intruder' };
      const op = ins(c, 'mine', { secret: 1 });
      await h.storage.applyOperations(owner, [op]);
      const refusedWith = async (p: Promise<unknown>) => {
        const err = await p.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(SynclineError);
        return (err as SynclineError).code;
      };
      expect(await refusedWith(h.storage.applyOperations(other, [op]))).toBe('CLIENT_ID_TAKEN');
      expect(await refusedWith(h.storage.applyOperations(other, [ins(c, 'theirs', {})]))).toBe('CLIENT_ID_TAKEN');
      expect(await refusedWith(h.storage.getChanges({ since: 0, limit: 10, clientId, userId: 'intruder' }))).toBe('CLIENT_ID_TAKEN');
      expect(await h.storage.getDocument(c, 'theirs')).toBeNull();
      // Naming it as one operation's author is presenting it too: that operation alone is refused.
      const mixed = await h.storage.applyOperations({ clientId: `${c}-intruder`, userId: 'intruder' }, [
        ins(c, 'posing', {}, { clientId }),
        ins(c, 'plain', {}),
      ]);
      expect(mixed.results.map((r) => [r.status, r.error?.code])).toEqual([
        ['rejected', 'CLIENT_ID_TAKEN'],
        ['applied', undefined],
      ]);
      expect(mixed.accepted.map((o) => o.docId)).toEqual(['plain']);
      expect(await h.storage.getDocument(c, 'posing')).toBeNull();
      // The owner keeps using it; pulling with it records its position.
      expect((await h.storage.applyOperations(owner, [op])).results[0]?.status).toBe('duplicate');
      await h.storage.getChanges({ since: 0, limit: 10, clientId, userId: 'owner' });
      await h.reopen();
      expect(await refusedWith(h.storage.applyOperations(other, [ins(c, 'theirs', {})]))).toBe('CLIENT_ID_TAKEN');
      expect(await refusedWith(h.storage.getChanges({ since: 0, limit: 10, clientId, userId: 'intruder' }))).toBe('CLIENT_ID_TAKEN');
      expect((await h.storage.applyOperations(owner, [ins(c, 'more', {})])).results[0]?.status).toBe('applied');
    });

    test('/sendActions runner: action ids are scoped to the caller, a client id of another user is refused, a changed body is refused', async () => {
      const c = freshCollection();
      const runner = await h.storage.createActionRunner?.({
        databaseUrl: h.sql.kind === 'postgres' ? postgresUrl : undefined,
        maxOpenActions: 4,
        finTimeoutMs: 10_000,
        statementTimeoutMs: 10_000,
      });
      if (!runner) throw new Error('this storage has no action runner');
      try {
        const id = `act:${c}:1`;
        const action = (docId: string, data: Record<string, unknown>) => ({
          id,
          type: 'insert' as const,
          collection: c,
          docId,
          data,
          idGiven: true,
        });
        const u0: Caller = { clientId: `${c}-k`, userId: 'u0' };
        const begun = await runner.begin(u0, action('a', { who: 'u0' }));
        expect(begun.kind).toBe('open');
        if (begun.kind === 'open') expect((await begun.action.commit()).kind).toBe('committed');
        // u1 presenting u0's client id: NACKed, nothing of u0's.
        const borrowed = await runner.begin({ clientId: u0.clientId, userId: 'u1' }, action('a', { who: 'u0' }));
        expect(borrowed).toMatchObject({ kind: 'refused', result: { status: 'rejected', error: { code: 'CLIENT_ID_TAKEN' } } });
        expect(borrowed.result).not.toHaveProperty('vectorClock');
        // u1 with the same action id from its own client: its own write, not a duplicate of u0's.
        const u1: Caller = { clientId: `${c}-k1`, userId: 'u1' };
        const own = await runner.begin(u1, action('b', { who: 'u1' }));
        expect(own.kind).toBe('open');
        if (own.kind === 'open') expect((await own.action.commit()).kind).toBe('committed');
        expect(await h.storage.getDocument(c, 'b')).toEqual({ _id: 'b', _rev: 1, who: 'u1' });
        expect(await runner.begin(u1, action('b', { who: 'u1' }))).toMatchObject({ kind: 'duplicate', result: { docId: 'b' } });
        expect(await runner.begin(u1, action('b', { who: 'changed' }))).toMatchObject({
          kind: 'refused',
          result: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } },
        });
        expect(await h.storage.getDocument(c, 'a')).toEqual({ _id: 'a', _rev: 1, who: 'u0' });
      } finally {
        await runner.close();
      }
    });

    test('the same operation id sent concurrently is applied exactly once', async () => {
      const c = freshCollection();
      const op = { id: opId(), type: 'patch', collection: c, docId: 'n', data: { hit: true } };
      await h.storage.applyOperations('w', [ins(c, 'n', { count: 0 })]);
      const all = await Promise.all(Array.from({ length: 8 }, () => h.storage.applyOperations('w', [op])));
      const statuses = all.map((r) => r.results[0]?.status).sort();
      expect(statuses.filter((s) => s === 'applied')).toHaveLength(1);
      expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(7);
      expect((await h.storage.getDocument(c, 'n'))?._rev).toBe(2);
    });

    test('baseVersion: a stale version is a conflict with the server document and changes nothing', async () => {
      const c = freshCollection();
      await h.storage.applyOperations('w', [ins(c, 'd', { v: 1 }, { baseVersion: 0 })]);
      const ok = await h.storage.applyOperations('w', [
        { id: opId(), type: 'update', collection: c, docId: 'd', data: { v: 2 }, baseVersion: 1 },
      ]);
      expect(ok.results[0]?.status).toBe('applied');
      const stale = await h.storage.applyOperations('w', [
        { id: opId(), type: 'update', collection: c, docId: 'd', data: { v: 'lost' }, baseVersion: 1 },
      ]);
      expect(stale.results[0]).toMatchObject({
        status: 'conflict',
        error: { code: 'VERSION_MISMATCH' },
        serverDocument: { _id: 'd', _rev: 2, v: 2 },
      });
      expect(stale.conflicts[0]).toMatchObject({ reason: 'version', serverDocument: { _rev: 2 } });
      expect(await h.storage.getDocument(c, 'd')).toEqual({ _id: 'd', _rev: 2, v: 2 });
      const exists = await h.storage.applyOperations('w', [ins(c, 'new', { v: 1 }, { baseVersion: 3 })]);
      expect(exists.results[0]?.error?.code).toBe('VERSION_MISMATCH');
      // Re-creating a deleted document based on its tombstone's version (an insert-only batch).
      await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'd' }]);
      const recreate = await h.storage.applyOperations('w', [ins(c, 'd', { v: 'again' }, { baseVersion: 3 })]);
      expect(recreate.results[0]).toMatchObject({ status: 'applied', document: { _id: 'd', _rev: 4, v: 'again' } });
    });

    test('vector clocks: before is rejected, concurrent is a conflict, after/equal are accepted and merged', async () => {
      const c = freshCollection();
      const put = (data: Op, vectorClock: Record<string, number>, clientId: string) =>
        h.storage.applyOperations(clientId, [{ id: opId(), type: 'upsert', collection: c, docId: 'd', data, vectorClock, clientId }]);

      const a1 = await put({ v: 'a1' }, { A: 1 }, 'A');
      expect(a1.results[0]).toMatchObject({ status: 'applied', vectorClock: { A: 1 } });
      const a2 = await put({ v: 'a2' }, { A: 2 }, 'A');
      expect(a2.results[0]).toMatchObject({ status: 'applied', vectorClock: { A: 2 } });

      const before = await put({ v: 'old' }, { A: 1 }, 'A');
      expect(before.results[0]).toMatchObject({ status: 'rejected', error: { code: 'STALE_OPERATION' }, serverDocument: { v: 'a2' } });
      expect(before.conflicts[0]?.reason).toBe('stale');

      const concurrent = await put({ v: 'b' }, { A: 1, B: 1 }, 'B');
      expect(concurrent.results[0]).toMatchObject({ status: 'conflict', error: { code: 'CONFLICT' }, vectorClock: { A: 2 } });
      expect(concurrent.conflicts[0]).toMatchObject({ reason: 'concurrent', serverDocument: { _rev: 2, v: 'a2' } });

      const after = await put({ v: 'b2' }, { A: 2, B: 1 }, 'B');
      expect(after.results[0]).toMatchObject({ status: 'applied', vectorClock: { A: 2, B: 1 } });

      // Two writers both holding the server's clock: the first is accepted and the
      // clock advances, so the second is stale rather than a silent overwrite.
      const eq1 = await put({ v: 'c' }, { A: 2, B: 1 }, 'C');
      expect(eq1.results[0]).toMatchObject({ status: 'applied', vectorClock: { A: 2, B: 1, C: 1 } });
      const eq2 = await put({ v: 'd' }, { A: 2, B: 1 }, 'D');
      expect(eq2.results[0]?.status).toBe('rejected');
      expect(await h.storage.getDocument(c, 'd')).toMatchObject({ v: 'c', _rev: 4 });
    });

    test('document updates keep the old values of the fields they changed, deletes the data as it was (server-side)', async () => {
      const c = freshCollection();
      const start = await h.storage.currentPosition();
      await h.storage.applyOperations('w', [ins(c, 'o', { owner: 'a', n: 1, gone: true })]);
      await h.storage.applyOperations('w', [
        { id: opId(), type: 'update', collection: c, docId: 'o', data: { owner: 'b', n: 1, added: 2 } },
      ]);
      await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'o' }]);
      const changes = await pullAll(h, start, c);
      expect(changes.map((x) => [x.type, x.old])).toEqual([
        ['insert', undefined],
        ['update', { owner: 'a', gone: true, added: null }],
        ['delete', { owner: 'b', n: 1, added: 2 }],
      ]);
    });

    test('a write that leaves the data as it was still gets a new version, a position and a change', async () => {
      const c = freshCollection();
      await h.storage.applyOperations('w', [ins(c, 'same', { n: 1 })]);
      const start = await h.storage.currentPosition();
      const res = await h.storage.applyOperations('w', [
        { id: opId(), type: 'patch', collection: c, docId: 'same', data: { n: 1 } },
        { id: opId(), type: 'update', collection: c, docId: 'same', data: { n: 1 } },
      ]);
      expect(res.results.map((r) => [r.status, r.version])).toEqual([
        ['applied', 2],
        ['applied', 3],
      ]);
      expect(res.results[1]?.position).toBeGreaterThan(start);
      const changes = await pullAll(h, start, c);
      expect(changes.map((x) => [x.type, x.version, x.data])).toEqual([['update', 3, { n: 1 }]]);
    });

    test('changes page in position order with checkpoint and hasMore, one per document write', async () => {
      const c = freshCollection();
      const start = await h.storage.currentPosition();
      for (let i = 0; i < 5; i++) {
        await h.storage.applyOperations('w', [ins(c, `a${i}`, { i }), ins(c, `b${i}`, { i })]);
      }
      const page = await h.storage.getChanges({ since: start, limit: 3 });
      expect(page.operations).toHaveLength(3);
      expect(page.hasMore).toBe(true);
      expect(page.checkpoint).toBe(page.operations[2]?.position);
      const all = await pullAll(h, start, c, 3);
      expect(all.map((x) => x.docId)).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4']);
      const positions = all.map((x) => x.position);
      expect(positions).toEqual([...positions].sort((x, y) => x - y));
      expect(new Set(positions).size).toBe(positions.length);
      expect(all[0]).toMatchObject({ type: 'insert', collection: c, source: 'api', clientId: 'w', synced: true, version: 1 });
      expect(typeof all[0]?.timestamp).toBe('number');
      const end = await h.storage.getChanges({ since: positions.at(-1) as number, limit: 100 });
      expect(end.operations.filter((x) => x.collection === c)).toEqual([]);
      expect(end.hasMore).toBe(false);
    });

    test('writes made directly in SQL are captured like API writes, with version and clock bumps', async () => {
      const c = freshCollection();
      await h.storage.applyOperations('w', [ins(c, 'api', { v: 1 }, { vectorClock: { w: 1 } })]);
      const docs = h.table('documents');
      await h.sql.exec(`INSERT INTO ${docs} (collection, id, data) VALUES ('${c}', 'sql1', '{"from":"psql"}'), ('${c}', 'sql2', '{"n":2}');
        UPDATE ${docs} SET data = ${h.jsonMerge('data', `'{"edited":true}'`)} WHERE collection = '${c}' AND id = 'api';
        UPDATE ${docs} SET data = data WHERE collection = '${c}' AND id = 'sql2';
        DELETE FROM ${docs} WHERE collection = '${c}' AND id = 'sql2';`);
      const changes = await pullAll(h, 0, c);
      expect(changes.map((x) => [x.docId, x.type, x.version, x.source])).toEqual([
        ['api', 'insert', 1, 'api'],
        ['sql1', 'insert', 1, 'database'],
        ['sql2', 'insert', 1, 'database'],
        ['api', 'update', 2, 'database'],
        ['sql2', 'delete', 2, 'database'],
      ]);
      expect(changes[3]).toMatchObject({ data: { v: 1, edited: true }, vectorClock: { w: 1, $db: 1 }, clientId: null });
      expect(changes[1]?.id).toBe(`chg-${changes[1]?.position}`);
      // The client that still holds {w:1} is now stale: the SQL edit is not silently overwritten.
      const stale = await h.storage.applyOperations('w', [
        { id: opId(), type: 'update', collection: c, docId: 'api', data: { v: 2 }, vectorClock: { w: 1 } },
      ]);
      expect(stale.results[0]?.error?.code).toBe('STALE_OPERATION');
    });

    test('the serialized pull body carries exactly the same changes as the object form', async () => {
      const c = freshCollection();
      const since = await h.storage.currentPosition();
      const tricky = {
        q: 'quote " and \\ backslash',
        nl: 'line\nbreak',
        u: 'é ✓ 😀',
        n: 1.5,
        big: 12345678901234,
        nested: { a: [1, { b: null }] },
        empty: {},
      };
      await h.storage.applyOperations('w"x', [ins(c, 'id "1"', tricky), ins(c, 'two', { ok: true })]);
      await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'two' }]);
      await h.sql.query(`INSERT INTO ${h.table('documents')} (collection, id, data) VALUES ($1, 'ext', '{}')`, [c]);
      for (const limit of [1, 2, 100]) {
        const q = { since, limit };
        const text = await h.storage.getChangesJson(q);
        // The object form may carry the server-only `old` values; the wire form never does.
        const objects = await h.storage.getChanges(q);
        const wire = { ...objects, operations: objects.operations.map(({ old: _old, ...rest }) => rest) };
        expect(JSON.parse(text)).toEqual(wire);
        expect(text).not.toContain('"old"');
      }
      const all = JSON.parse(await h.storage.getChangesJson({ since, limit: 100 }));
      expect(all.operations.map((x: { docId: string; type: string }) => [x.docId, x.type])).toEqual([
        ['id "1"', 'insert'],
        ['two', 'insert'],
        ['two', 'delete'],
        ['ext', 'insert'],
      ]);
      expect(all.operations[0].data).toEqual(tricky);
      expect(all.operations[0].clientId).toBe('w"x');
      expect(all.operations[2].data).toBeNull();
    });

    test('a TRUNCATE made directly in SQL is captured as deletes', async () => {
      // MySQL fires no trigger on TRUNCATE, so it cannot be captured there (README).
      if (h.sql.kind === 'mysql') return;
      const h2 = await factory();
      try {
        await h2.storage.applyOperations('w', [
          ins('t', 'a', {}),
          ins('t', 'b', {}),
          { id: opId(), type: 'delete', collection: 't', docId: 'b' },
        ]);
        const since = await h2.storage.currentPosition();
        await h2.sql.exec(`TRUNCATE ${h2.table('documents')}`);
        const page = await h2.storage.getChanges({ since, limit: 10 });
        expect(page.operations.map((x) => [x.docId, x.type, x.source])).toEqual([['a', 'delete', 'database']]);
      } finally {
        await h2.close();
      }
    });

    test('data nested too deeply is rejected with a clear code', async () => {
      const c = freshCollection();
      let deep: unknown = 1;
      for (let i = 0; i < 70; i++) deep = { d: deep };
      const res = await h.storage.applyOperations('w', [ins(c, 'deep', { deep }), ins(c, 'ok', {})]);
      expect(res.results[0]).toMatchObject({ status: 'rejected', error: { code: 'VALIDATION_FAILED' } });
      expect(res.results[0]?.error?.message).toContain('nested deeper than 64 levels');
      expect(res.results[1]?.status).toBe('applied');
    });

    test('one NOTIFY per sequencing pass, carrying the last position, never row data', async () => {
      const c = freshCollection();
      const seen: number[] = [];
      const own: number[] = [];
      const all: number[] = [];
      // `hint`: the NOTIFYs (PostgreSQL); `own`: this instance giving positions to its API writes.
      const stop = await h.storage.onCommit(
        (p, origin) => {
          all.push(p);
          if (origin === 'hint') seen.push(p);
          if (origin === 'own') own.push(p);
        },
        { local: true },
      );
      const big = 'x'.repeat(9000);
      await h.sql.transaction(async (tx) => {
        for (let i = 0; i < 3; i++) {
          await tx.query(`INSERT INTO ${h.table('documents')} (collection, id, data) VALUES ($1, $2, $3)`, [c, `r${i}`, { big }]);
        }
      });
      const res = await h.storage.applyOperations('w', [ins(c, 'big', { big })]);
      // Both transactions are sequenced once the API write is answered; its notification follows.
      const head = await h.storage.currentPosition();
      await until(() => Math.max(...all) === head && (h.sql.kind === 'mysql' || seen.at(-1) === head), 'the notification of the head');
      await stop();
      // One notification per sequencing pass (one pass may cover several transactions), the last at head.
      expect(Math.max(...all)).toBe(head);
      if (h.sql.kind !== 'mysql') expect(seen.at(-1)).toBe(head);
      expect(seen.length).toBeLessThanOrEqual(2);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(res.results[0]?.position).toBe(head);
      expect(own).toContain(head);
      const changes = await pullAll(h, 0, c);
      expect(changes).toHaveLength(4);
      expect(changes[3]?.data?.big).toHaveLength(9000);
    });

    test('a transaction held open delays no one: later commits are served, it gets a higher position when it commits', async () => {
      const c = freshCollection();
      const since = await h.storage.currentPosition();
      if (h.sql.kind === 'pglite') return; // one connection: nothing else can run while a transaction is open
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let inserted!: () => void;
      const slowInserted = new Promise<void>((r) => {
        inserted = r;
      });
      const slow = h.sql.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${h.table('documents')} (collection, id, data) VALUES ($1, 'slow', '{}')`, [c]);
        inserted();
        await held;
      });
      await Promise.race([slowInserted, slow]); // `slow` settles first only if it failed
      await h.storage.applyOperations('w', [ins(c, 'fast', {})]);
      const mid = await pullAll(h, since, c);
      expect(mid.map((x) => x.docId)).toEqual(['fast']);
      release();
      await slow;
      const after = await pullAll(h, since, c);
      expect(after.map((x) => x.docId)).toEqual(['fast', 'slow']);
    });

    test('query: filters, deleted documents excluded, sort and cursor paging cover every match once', async () => {
      const c = freshCollection();
      const ops = Array.from({ length: 25 }, (_, i) =>
        ins(c, `d${String(i).padStart(2, '0')}`, { n: i, even: i % 2 === 0, tag: i % 3 === 0 ? 'x' : 'y', nested: { k: i % 5 } }),
      );
      await h.storage.applyOperations('w', ops);
      await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'd00' }]);
      const evens = await h.storage.queryDocuments(c, { filter: { even: true } });
      expect(evens.count).toBe(12);
      expect(evens.documents.every((d) => d.even === true)).toBe(true);
      const complex = await h.storage.queryDocuments(c, {
        filter: { $or: [{ n: { $gte: 20 } }, { 'nested.k': 0 }], tag: { $in: ['x'] }, _id: { $ne: 'd15' } },
        sort: { n: -1 },
      });
      expect(complex.documents.map((d) => d.n)).toEqual([24, 21]);
      expect(complex.position).toBe(await h.storage.currentPosition());

      const seen: number[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await h.storage.queryDocuments(c, { sort: { tag: 1, n: -1 }, limit: 4, ...(cursor ? { cursor } : {}) });
        seen.push(...page.documents.map((d) => d.n as number));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      expect(seen).toHaveLength(24);
      expect(new Set(seen).size).toBe(24);
      expect(seen.slice(0, 3)).toEqual([24, 21, 18]);

      await expect(h.storage.queryDocuments(c, { filter: { n: { $regex: 'x' } } })).rejects.toMatchObject({ code: 'UNKNOWN_OPERATOR' });
      await expect(h.storage.queryDocuments(c, { cursor: 'garbage' })).rejects.toMatchObject({ code: 'INVALID_CURSOR' });
      const other = await h.storage.queryDocuments(c, { limit: 2 });
      await expect(
        h.storage.queryDocuments(c, { filter: { even: true }, ...(other.nextCursor ? { cursor: other.nextCursor } : {}) }),
      ).rejects.toBeInstanceOf(SynclineError);
    });

    test('stats count operations, documents per collection and what clients have not pulled', async () => {
      const c = freshCollection();
      await h.storage.applyOperations('w', [ins(c, 'a', {}), ins(c, 'b', {}), ins(c, 'c', {})]);
      await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'c' }]);
      const head = await h.storage.currentPosition();
      await h.storage.getChanges({ since: head - 2, limit: 1, clientId: `lagging-${c}` });
      const stats = await h.storage.getStats();
      expect(stats.collections[c]).toEqual({ documents: 2, deleted: 1 });
      expect(stats.totalOperations).toBeGreaterThanOrEqual(4);
      expect(stats.totalDocuments).toBeGreaterThanOrEqual(2);
      expect(stats.position).toBe(head);
      // That client acknowledged head-2: the last two changes are unsynced (others may lag further).
      expect(stats.unsyncedOperations).toBeGreaterThanOrEqual(2);
      await h.storage.getChanges({ since: head, limit: 1, clientId: `lagging-${c}` });
      const { rows } = await h.sql.query<{ position: number }>(`SELECT position FROM ${h.table('clients')} WHERE client_id = $1`, [
        `lagging-${c}`,
      ]);
      expect(Number(rows[0]?.position)).toBe(head);
    });

    test('listClients: clients that pulled with an id, most recently seen first, with their position, at most `limit`', async () => {
      const c = freshCollection();
      await h.storage.applyOperations('w', [ins(c, 'a', {}), ins(c, 'b', {})]);
      const head = await h.storage.currentPosition();
      const [older, newer] = [`seen-first-${c}`, `seen-last-${c}`];
      await h.storage.getChanges({ since: head - 1, limit: 1, clientId: older });
      await new Promise((r) => setTimeout(r, 20));
      await h.storage.getChanges({ since: head, limit: 1, clientId: newer });
      const list = (await h.storage.listClients?.(1000)) ?? [];
      const iOlder = list.findIndex((x) => x.clientId === older);
      const iNewer = list.findIndex((x) => x.clientId === newer);
      expect(iNewer).toBeGreaterThanOrEqual(0);
      expect(iOlder).toBeGreaterThan(iNewer);
      expect(list[iOlder]).toMatchObject({ clientId: older, position: head - 1 });
      expect(list[iNewer]).toMatchObject({ clientId: newer, position: head });
      // ms since epoch, as the server's clock sees it (MySQL: read in the session time zone it was written in).
      expect(Math.abs((list[iNewer]?.lastSeen ?? 0) - Date.now())).toBeLessThan(60_000);
      expect(list.map((x) => x.lastSeen)).toEqual([...list.map((x) => x.lastSeen)].sort((a, b) => b - a));
      expect(await h.storage.listClients?.(1)).toEqual([list[0]]);
      expect(await h.storage.listClients?.(0)).toEqual([]);
    });

    test('acknowledged operations survive a restart, and so does their idempotency', async () => {
      const c = freshCollection();
      const op = ins(c, 'durable', { v: 1 });
      await h.storage.applyOperations('w', [op]);
      await h.reopen();
      expect(await h.storage.getDocument(c, 'durable')).toEqual({ _id: 'durable', _rev: 1, v: 1 });
      const again = await h.storage.applyOperations('w', [op]);
      expect(again.results[0]).toMatchObject({ status: 'duplicate', originalStatus: 'applied' });
      const next = await h.storage.applyOperations('w', [ins(c, 'after', {})]);
      expect(next.results[0]?.position).toBeGreaterThan(0);
      expect((await pullAll(h, 0, c)).map((x) => x.docId)).toEqual(['durable', 'after']);
    });
  });

  describe(`Storage conformance (compaction): ${name}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await factory();
    });
    afterAll(async () => {
      await h?.close();
    });

    test('compaction keeps current documents, drops old history and sends older pulls to RESYNC_REQUIRED', async () => {
      const c = 'compacted';
      await h.storage.applyOperations('w', [ins(c, 'keep', { v: 1 }), ins(c, 'gone', { v: 1 })]);
      await h.storage.applyOperations('w', [
        { id: opId(), type: 'patch', collection: c, docId: 'keep', data: { v: 2 } },
        { id: opId(), type: 'delete', collection: c, docId: 'gone' },
      ]);
      const oldHead = await h.storage.currentPosition();
      // Age everything so far by 40 days.
      for (const what of ['changes', 'operations', 'documents'] as const) await h.age(what, 40);
      await h.storage.applyOperations('w', [ins(c, 'recent', { v: 1 })]);

      const nothing = await h.storage.compact(60);
      expect(nothing).toMatchObject({ message: 'Compaction completed', deletedCount: 0, deletedChanges: 0, horizon: 0 });

      const res = await h.storage.compact(30);
      expect(res).toMatchObject({
        message: 'Compaction completed',
        deletedCount: 4,
        deletedChanges: 4,
        purgedTombstones: 1,
        horizon: oldHead,
      });
      expect(await h.storage.getDocument(c, 'keep')).toEqual({ _id: 'keep', _rev: 2, v: 2 });
      expect(await h.storage.getDocument(c, 'recent')).toMatchObject({ v: 1 });

      for (const since of [0, oldHead - 1]) {
        const err = await h.storage.getChanges({ since, limit: 10 }).catch((e) => e);
        expect(err).toBeInstanceOf(SynclineError);
        expect(err).toMatchObject({ code: 'RESYNC_REQUIRED', status: 410, details: { horizon: oldHead } });
      }
      const fromHorizon = await h.storage.getChanges({ since: oldHead, limit: 10 });
      expect(fromHorizon.operations.map((x) => x.docId)).toEqual(['recent']);

      // The documented resync: query (remember its position), then pull from there.
      const snapshot = await h.storage.queryDocuments(c, {});
      expect(snapshot.documents.map((d) => d._id).sort()).toEqual(['keep', 'recent']);
      expect((await h.storage.getChanges({ since: snapshot.position, limit: 10 })).operations).toEqual([]);
      expect((await h.storage.getStats()).horizon).toBe(oldHead);
      // After everything is compacted the head position still does not go backwards.
      await h.age('changes', 40);
      const all = await h.storage.compact(30);
      expect(all.horizon).toBe(oldHead + 1);
      expect(await h.storage.currentPosition()).toBe(oldHead + 1);
      const next = await h.storage.applyOperations('w', [ins(c, 'later', {})]);
      expect(next.results[0]?.position).toBe(oldHead + 2);
    });

    test('compaction deletes in bounded chunks and reports its progress, with the same result', async () => {
      const c = freshCollection('chunks');
      for (let b = 0; b < 5; b++) {
        await h.storage.applyOperations(
          'w',
          Array.from({ length: 5 }, (_, i) => ins(c, `d${b}-${i}`, { b, i })),
        );
      }
      await h.storage.applyOperations('w', [{ id: opId(), type: 'delete', collection: c, docId: 'd0-0' }]);
      const head = await h.storage.currentPosition();
      for (const what of ['changes', 'operations', 'documents'] as const) await h.age(what, 40);
      const calls: [number, number][] = [];
      const res = await h.storage.compact(30, { chunkSize: 4, onProgress: (done, total) => calls.push([done, total]) });
      expect(res.horizon).toBe(head);
      expect(res.deletedChanges).toBeGreaterThanOrEqual(26);
      expect(res.deletedCount).toBeGreaterThanOrEqual(26);
      expect(res.purgedTombstones).toBeGreaterThanOrEqual(1);
      const total = res.deletedChanges + res.deletedCount + res.purgedTombstones;
      // At most 4 rows per statement: many steps, each moving at most 4, ending at the total counted first.
      expect(calls.length).toBeGreaterThanOrEqual(Math.ceil(total / 4));
      let prev = 0;
      for (const [done, t] of calls) {
        expect(done - prev).toBeGreaterThanOrEqual(0);
        expect(done - prev).toBeLessThanOrEqual(4);
        expect(t).toBe(total);
        prev = done;
      }
      expect(calls.at(-1)).toEqual([total, total]);
      await expect(h.storage.getChanges({ since: head - 1, limit: 10 })).rejects.toMatchObject({ code: 'RESYNC_REQUIRED' });
      expect(await h.storage.getDocument(c, 'd4-4')).toMatchObject({ b: 4, i: 4 });
      expect(await h.storage.getDocument(c, 'd0-0')).toBeNull();
      expect((await h.storage.getChanges({ since: head, limit: 10 })).operations).toEqual([]);
    });
  });
}
