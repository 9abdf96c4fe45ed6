/**
 * Hidden fields cannot be read back (issue 13, item 3; DESIGN invariant 5): a
 * rule's `hidden` fields, FILTERS columns and server metadata (`_hlc`) are
 * refused with HIDDEN_FIELD in every filter, sort (and so cursor) on every
 * path; writes that set one are refused unless a `writeHidden` rule allows
 * them, and a full update keeps the ones it does not name; `_hlc` stamps
 * never appear in reads.
 */
import type { Change, OperationResult } from '@syncline/protocol';
import { SignJWT } from 'jose';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../src/config/options.js';
import { HS_SECRET } from './esink-tokens.js';
import { opId } from './harness.js';
import { ActionsClient } from './send-actions-client.js';
import type { TestServer } from './server-harness.js';

const token = (sub: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(HS_SECRET));

export const hiddenConfig: ConfigInput = {
  jwtSecret: HS_SECRET,
  filters: ['users.password_hash'],
  rules: {
    users: { read: '*', write: '*', writeHidden: { claim: 'role', in: ['admin'] } },
    notes: { read: { field: 'owner' }, write: { field: 'owner' }, owner: 'owner', hidden: ['secret'] },
    docs: { read: '*', write: '*' },
  },
};

export function hiddenFieldsSuite(name: string, start: (config: ConfigInput) => Promise<TestServer>): void {
  test(`open mode (${name}): FILTERS columns are not filterable, _hlc is not in GET /documents nor in the /changes fast path`, async () => {
    const open = await start({ filters: ['users.password_hash'] });
    try {
      await open.server.storage.applyOperations('seed', [
        {
          id: opId(),
          type: 'insert',
          collection: 'users',
          docId: 'u1',
          data: { name: 'ann', password_hash: 'HASH-a1', _hlc: { name: 's' } },
        },
      ]);
      const post = (path: string, body: unknown) =>
        fetch(`${open.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const q = await post('/documents/users/query', { filter: { password_hash: { $gt: 'HASH-a' } } });
      expect(q.status).toBe(400);
      expect(await q.json()).toMatchObject({ code: 'HIDDEN_FIELD' });
      const got = await (await fetch(`${open.url}/documents/users/u1`)).json();
      expect(got).toMatchObject({ _id: 'u1', name: 'ann' });
      expect(JSON.stringify(got)).not.toMatch(/_hlc|HASH/);
      const pulled = await (await post('/changes', { since: 0 })).text();
      expect(pulled).toContain('"ann"');
      expect(pulled).not.toMatch(/_hlc|HASH/);
    } finally {
      await open.close();
    }
    // Starts its own server (PGlite takes many seconds on a loaded machine).
  }, 120_000);

  describe(`hidden fields cannot be read back (${name})`, () => {
    let srv: TestServer;
    let alice: string;
    let admin: string;
    const sockets: Socket[] = [];
    const seed = (ops: Record<string, unknown>[]) =>
      srv.server.storage.applyOperations(
        'seed',
        ops.map((o) => ({ id: opId(), ...o })),
      );
    const call = async <T = Record<string, unknown>>(method: string, path: string, who: string, body?: unknown) => {
      const res = await fetch(`${srv.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${who}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as T };
    };
    const query = (collection: string, who: string, body: Record<string, unknown>) =>
      call<{ documents: Record<string, unknown>[]; nextCursor?: string; code?: string; details?: { path?: string } }>(
        'POST',
        `/documents/${collection}/query`,
        who,
        body,
      );
    const push = async (who: string, ops: Record<string, unknown>[]) => {
      const r = await call<{ results: OperationResult[] }>('POST', '/operations', who, {
        // A client id belongs to its first user (CLIENT_ID_TAKEN): a fresh one per push.
        clientId: `h-${opId()}`,
        operations: ops.map((o) => ({ id: opId(), ...o })),
      });
      expect(r.status).toBe(200);
      return r.body.results;
    };
    const sync = async (who: string) => {
      const s = connect(`${srv.url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: who } });
      sockets.push(s);
      return s;
    };

    beforeAll(async () => {
      srv = await start(hiddenConfig);
      alice = await token('alice');
      admin = await token('root', { role: 'admin' });
      await seed([
        { type: 'insert', collection: 'users', docId: 'u1', data: { name: 'ann', password_hash: 'HASH-a1' } },
        { type: 'insert', collection: 'users', docId: 'u2', data: { name: 'bo', password_hash: 'HASH-z9' } },
        { type: 'insert', collection: 'notes', docId: 'n1', data: { owner: 'alice', text: 't', secret: 's-1', meta: { k: 1 } } },
        { type: 'insert', collection: 'docs', docId: 'd1', data: { title: 'x', _hlc: { title: '0000000000001:000000:a' } } },
      ]);
    });
    afterAll(async () => {
      for (const s of sockets) s.disconnect();
      await srv?.close();
    });

    test('REST query: a filter naming a hidden field is HIDDEN_FIELD (also in $and/$or, dotted, $exists), so no 1-vs-0 oracle', async () => {
      const refused: [string, Record<string, unknown>, string][] = [
        ['users', { password_hash: { $gt: 'HASH-a' } }, 'filter.password_hash'],
        ['users', { password_hash: { $exists: true } }, 'filter.password_hash'],
        ['users', { $or: [{ name: 'zz' }, { $and: [{ password_hash: 'HASH-a1' }] }] }, 'filter.$or.1.$and.0.password_hash'],
        ['users', { 'password_hash.x': null }, 'filter.password_hash.x'],
        ['notes', { secret: { $lt: 's-2' } }, 'filter.secret'],
        ['docs', { '_hlc.title': { $exists: true } }, 'filter._hlc.title'],
      ];
      for (const [collection, filter, path] of refused) {
        const r = await query(collection, alice, { filter });
        expect(r, JSON.stringify(filter)).toMatchObject({ status: 400, body: { code: 'HIDDEN_FIELD', details: { path } } });
      }
      // Visible fields still filter.
      const ok = await query('users', alice, { filter: { name: 'ann' } });
      expect(ok.status).toBe(200);
      expect(ok.body.documents.map((d) => d._id)).toEqual(['u1']);
    });

    test('REST query: sorting by a hidden field is HIDDEN_FIELD (its cursor would carry the value); a forged cursor reveals nothing', async () => {
      const sorted = await query('users', alice, { sort: { password_hash: 1 }, limit: 1 });
      expect(sorted).toMatchObject({ status: 400, body: { code: 'HIDDEN_FIELD', details: { path: 'sort.password_hash' } } });
      expect(JSON.stringify(sorted.body)).not.toContain('HASH');
      const nested = await query('notes', alice, { sort: { 'secret.x': -1 } });
      expect(nested).toMatchObject({ status: 400, body: { code: 'HIDDEN_FIELD' } });
      // A cursor names no field: one made for another sort (a hidden one) does not fit this query.
      const forged = Buffer.from(JSON.stringify({ v: ['HASH-m', 'u1'], f: 'x' })).toString('base64url');
      const r = await query('users', alice, { cursor: forged });
      expect(r).toMatchObject({ status: 400, body: { code: 'INVALID_CURSOR' } });
      // Paging on visible fields works and its cursors hold no hidden value.
      const page = await query('users', alice, { sort: { name: 1 }, limit: 1 });
      expect(page.status).toBe(200);
      expect(Buffer.from(page.body.nextCursor as string, 'base64url').toString()).not.toContain('HASH');
    });

    test('/sync subscribe: a filter naming a hidden field is refused with HIDDEN_FIELD', async () => {
      const s = await sync(alice);
      for (const [collection, filter] of [
        ['users', { password_hash: { $gt: 'HASH-a' } }],
        ['notes', { $and: [{ text: 't' }, { secret: 's-1' }] }],
        ['docs', { _hlc: { $exists: true } }],
      ] as const) {
        const ack = await s.timeout(5000).emitWithAck('subscribe', { collection, filter, since: 0 });
        expect(ack, JSON.stringify(filter)).toMatchObject({ ok: false, error: { code: 'HIDDEN_FIELD' } });
      }
      const ok = await s.timeout(5000).emitWithAck('subscribe', { collection: 'users', filter: { name: 'ann' }, since: 0 });
      expect(ok.ok).toBe(true);
      expect(JSON.stringify(ok.changes)).not.toContain('HASH');
    });

    test('writes that set a hidden field are refused per operation with HIDDEN_FIELD and change nothing', async () => {
      const results = await push(alice, [
        { type: 'patch', collection: 'users', docId: 'u1', data: { password_hash: 'mine' } },
        { type: 'update', collection: 'users', docId: 'u2', data: { name: 'bo', password_hash: 'mine' } },
        { type: 'insert', collection: 'users', docId: 'u3', data: { name: 'cy', password_hash: 'mine' } },
        { type: 'patch', collection: 'notes', docId: 'n1', data: { secret: 'mine' } },
        { type: 'patch', collection: 'users', docId: 'u1', data: { name: 'ann2' } },
      ]);
      expect(results.map((r) => r.error?.code ?? r.status)).toEqual([
        'HIDDEN_FIELD',
        'HIDDEN_FIELD',
        'HIDDEN_FIELD',
        'HIDDEN_FIELD',
        'applied',
      ]);
      expect(results[0]?.error?.path).toBe('data.password_hash');
      expect(await srv.server.storage.getDocument('users', 'u1')).toMatchObject({ name: 'ann2', password_hash: 'HASH-a1' });
      expect(await srv.server.storage.getDocument('users', 'u2')).toMatchObject({ password_hash: 'HASH-z9' });
      expect(await srv.server.storage.getDocument('users', 'u3')).toBeNull();
      expect(await srv.server.storage.getDocument('notes', 'n1')).toMatchObject({ secret: 's-1' });

      // /sync push goes through the same check.
      const s = await sync(alice);
      const pushed = await s.timeout(5000).emitWithAck('push', {
        clientId: `h-${opId()}`,
        operations: [{ id: opId(), type: 'patch', collection: 'users', docId: 'u2', data: { password_hash: 'via-sync' } }],
      });
      expect(pushed.results[0]).toMatchObject({ status: 'rejected', error: { code: 'HIDDEN_FIELD' } });
      expect(await srv.server.storage.getDocument('users', 'u2')).toMatchObject({ password_hash: 'HASH-z9' });
    });

    test('/sendActions: an action setting a hidden field is NACKed with HIDDEN_FIELD', async () => {
      const actions = await ActionsClient.connect(srv.url, { token: alice });
      try {
        actions.send([{ id: 1, type: 'UPDATE', collection: 'users', data: { id: 'u2', password_hash: 'via-actions' } }]);
        expect(await actions.result(1)).toMatchObject({ status: 'NACK', error: { code: 'HIDDEN_FIELD' } });
      } finally {
        actions.close();
      }
      expect(await srv.server.storage.getDocument('users', 'u2')).toMatchObject({ password_hash: 'HASH-z9' });
    });

    test('a writeHidden rule lets its callers set hidden fields; a full update that leaves them out keeps them', async () => {
      const [set] = await push(admin, [{ type: 'patch', collection: 'users', docId: 'u2', data: { password_hash: 'HASH-new' } }]);
      expect(set).toMatchObject({ status: 'applied' });
      expect(set?.document).not.toHaveProperty('password_hash');
      expect(await srv.server.storage.getDocument('users', 'u2')).toMatchObject({ password_hash: 'HASH-new' });
      // A caller who never saw the field replaces the document: the field stays.
      const [upd] = await push(alice, [{ type: 'update', collection: 'users', docId: 'u2', data: { name: 'bob' } }]);
      expect(upd).toMatchObject({ status: 'applied' });
      expect(await srv.server.storage.getDocument('users', 'u2')).toMatchObject({ name: 'bob', password_hash: 'HASH-new' });
    });

    test('_hlc stamps never appear in GET /documents, queries, /changes or /sync; a merge writer gets them only with its conflict', async () => {
      const got = await call('GET', '/documents/docs/d1', alice);
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ _id: 'd1', title: 'x' });
      expect(got.body).not.toHaveProperty('_hlc');
      const q = await query('docs', alice, {});
      expect(JSON.stringify(q.body)).not.toContain('_hlc');
      const pulled = await call<{ operations: Change[] }>('POST', '/changes', alice, { since: 0 });
      expect(pulled.body.operations.some((c) => c.docId === 'd1')).toBe(true);
      expect(JSON.stringify(pulled.body)).not.toContain('_hlc');
      const s = await sync(alice);
      const live: Change[] = [];
      s.on('changes', (f: { changes: Change[] }) => live.push(...f.changes));
      const ack = await s.timeout(5000).emitWithAck('subscribe', { collection: 'docs', since: 0 });
      expect(ack.ok).toBe(true);
      expect(JSON.stringify(ack.changes)).not.toContain('_hlc');

      // A merge writer patches one field with its stamp: the stored stamps merge (the other fields' stay).
      const [patched] = await push(alice, [
        { type: 'patch', collection: 'docs', docId: 'd1', baseVersion: 1, data: { body: 'b', _hlc: { body: '0000000000002:000000:c' } } },
      ]);
      expect(patched).toMatchObject({ status: 'applied' });
      expect(JSON.stringify(patched)).not.toContain('_hlc');
      expect((await srv.server.storage.getDocument('docs', 'd1'))?._hlc).toEqual({
        title: '0000000000001:000000:a',
        body: '0000000000002:000000:c',
      });
      await expect.poll(() => live.length, { timeout: 5000 }).toBeGreaterThan(0);
      expect(JSON.stringify(live)).not.toContain('_hlc');

      // Its stale write conflicts: the server's stamps come back with the conflict (the strategy's input), to it only.
      const [stale, plain] = await push(alice, [
        { type: 'patch', collection: 'docs', docId: 'd1', baseVersion: 1, data: { title: 'y', _hlc: { title: '0000000000003:000000:c' } } },
        { type: 'patch', collection: 'docs', docId: 'd1', baseVersion: 1, data: { title: 'z' } },
      ]);
      expect(stale).toMatchObject({ status: 'conflict', serverDocument: { _hlc: { body: '0000000000002:000000:c' } } });
      expect(plain?.status).toBe('conflict');
      expect(plain?.serverDocument).not.toHaveProperty('_hlc');

      // Stamps are an object of strings.
      const [bad] = await push(alice, [{ type: 'patch', collection: 'docs', docId: 'd1', data: { _hlc: 'later' } }]);
      expect(bad).toMatchObject({ status: 'rejected', error: { code: 'VALIDATION_FAILED', path: 'data._hlc' } });
    });
  });
}
