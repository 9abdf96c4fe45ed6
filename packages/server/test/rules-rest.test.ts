/**
 * Read rules on the REST read paths (issue 5): get, query (the rule is part of
 * the SQL), and pulls (only what the caller may read; the checkpoint still
 * advances past the rest; a document leaving or entering a caller's reach is a
 * delete or an insert for them). Hidden fields never leave the server.
 */
import type { Change } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SynclineServer } from '../src/server.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { opId } from './harness.js';
import { startPgliteServer } from './server-harness.js';

async function call<T>(url: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as T };
}

describe('read rules on REST (PGlite)', () => {
  let server: SynclineServer;
  let url: string;
  let alice: string;
  let bob: string;
  const write = (ops: Record<string, unknown>[]) =>
    server.storage.applyOperations(
      'seed',
      ops.map((o) => ({ id: opId(), ...o })),
    );

  beforeAll(async () => {
    ({ server, url } = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        rules: { notes: { read: { field: 'owner' }, hidden: ['secret'] }, news: { read: '*' } },
      },
    }));
    alice = await jwtFor('alice');
    bob = await jwtFor('bob');
    await write([
      { type: 'insert', collection: 'notes', docId: 'a1', data: { owner: 'alice', text: 'mine', secret: 's-a1' } },
      { type: 'insert', collection: 'notes', docId: 'a2', data: { owner: 'alice', text: 'mine too', secret: 's-a2' } },
      { type: 'insert', collection: 'notes', docId: 'b1', data: { owner: 'bob', text: 'his', secret: 's-b1' } },
      { type: 'insert', collection: 'news', docId: 'n1', data: { title: 'hello' } },
      { type: 'insert', collection: 'vault', docId: 'v1', data: { gold: 1 } },
    ]);
  });
  afterAll(() => server?.close());

  test('get: a readable document is served without hidden fields; another is "not found"; no rule = no one', async () => {
    const mine = await call<Record<string, unknown>>(url, 'GET', '/documents/notes/a1', alice);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ _id: 'a1', owner: 'alice', text: 'mine' });
    expect(mine.body).not.toHaveProperty('secret');
    expect(await call(url, 'GET', '/documents/notes/b1', alice)).toMatchObject({ status: 404, body: { code: 'DOCUMENT_NOT_FOUND' } });
    expect((await call(url, 'GET', '/documents/news/n1', alice)).status).toBe(200);
    expect((await call(url, 'GET', '/documents/vault/v1', alice)).status).toBe(404);
  });

  test('query: the rule is part of the query, also across pages', async () => {
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call<{ documents: { _id: string }[]; nextCursor?: string }>(url, 'POST', '/documents/notes/query', alice, {
        limit: 1,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.status).toBe(200);
      expect(JSON.stringify(page.body)).not.toContain('s-a');
      all.push(...page.body.documents.map((d) => d._id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(all.sort()).toEqual(['a1', 'a2']);
    const bobs = await call<{ documents: { _id: string }[] }>(url, 'POST', '/documents/notes/query', bob, {
      filter: { text: { $exists: true } },
    });
    expect(bobs.body.documents.map((d) => d._id)).toEqual(['b1']);
    const vault = await call<{ documents: unknown[] }>(url, 'POST', '/documents/vault/query', alice, {});
    expect(vault.body.documents).toEqual([]);
  });

  test('pull: only readable changes; the checkpoint passes the others; moving a document is a delete for one and an insert for the other', async () => {
    const pull = (token: string, since: number) =>
      call<{ operations: Change[]; checkpoint: number }>(url, 'POST', '/changes', token, { since, limit: 1000 });
    const a = await pull(alice, 0);
    expect(a.body.operations.map((c) => c.docId).sort()).toEqual(['a1', 'a2', 'n1']);
    expect(JSON.stringify(a.body)).not.toContain('s-a');
    expect(a.body.checkpoint).toBe(await server.storage.currentPosition());

    await write([{ type: 'patch', collection: 'notes', docId: 'a2', data: { owner: 'bob' } }]);
    const a2 = await pull(alice, a.body.checkpoint);
    expect(a2.body.operations.map((c) => [c.docId, c.type, c.data])).toEqual([['a2', 'delete', null]]);
    const b2 = await pull(bob, a.body.checkpoint);
    expect(b2.body.operations.map((c) => [c.docId, c.type])).toEqual([['a2', 'insert']]);
    expect(b2.body.operations[0]?.data).toMatchObject({ owner: 'bob', text: 'mine too' });
    expect(b2.body.operations[0]?.data).not.toHaveProperty('secret');

    await write([{ type: 'delete', collection: 'notes', docId: 'b1' }]);
    const a3 = await pull(alice, b2.body.checkpoint);
    expect(a3.body.operations).toEqual([]);
    expect(a3.body.checkpoint).toBeGreaterThan(b2.body.checkpoint);
    const b3 = await pull(bob, b2.body.checkpoint);
    expect(b3.body.operations.map((c) => [c.docId, c.type])).toEqual([['b1', 'delete']]);
  });
});
