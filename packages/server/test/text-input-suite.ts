/**
 * Text the databases cannot store (issue 13 item 4): U+0000 and unpaired UTF-16
 * surrogates are refused with INVALID_TEXT (400) on every path, per operation in
 * a batch (the valid operations beside it are applied), and the server stays up.
 * Registered for PGlite, PostgreSQL and MariaDB.
 */
import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { opId } from './harness.js';
import { ActionsClient } from './send-actions-client.js';
import type { TestServer } from './server-harness.js';

export type MakeTextServer = () => Promise<TestServer>;

/** Each kind of unstorable text, as it appears inside a string. */
export const BAD_TEXT = [
  ['NUL', 'a\u0000b'],
  ['lone high surrogate', 'a\ud800b'],
  ['lone low surrogate', 'a\udc00b'],
  ['high surrogate at the end', 'ab\ud83d'],
] as const;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are inspected loosely
type Json = any;

/** Where a bad string goes in an operation, and the path the error must name. */
const OPERATION_CASES: [string, (bad: string, docId: string) => Record<string, unknown>, string][] = [
  ['data value', (bad, docId) => ({ docId, data: { s: bad } }), 'operations[0].data.s'],
  ['nested data value', (bad, docId) => ({ docId, data: { a: { b: [1, bad] } } }), 'operations[0].data.a.b[1]'],
  ['data key', (bad, docId) => ({ docId, data: { [bad]: 1 } }), 'operations[0].data'],
  ['docId', (bad) => ({ docId: bad, data: { n: 1 } }), 'operations[0].docId'],
  ['operation id', (bad, docId) => ({ id: `op-${bad}`, docId, data: { n: 1 } }), 'operations[0].id'],
  ['operation clientId', (bad, docId) => ({ docId, clientId: bad, data: { n: 1 } }), 'operations[0].clientId'],
  ['vectorClock node', (bad, docId) => ({ docId, vectorClock: { [bad]: 1 }, data: { n: 1 } }), 'operations[0].vectorClock'],
];

/**
 * Percent-encodes as UTF-8, and a lone surrogate as the 3 bytes UTF-8 would give it (WTF-8),
 * which is what a careless client sends (encodeURIComponent refuses it).
 */
function wtf8(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u < 0xd800 || u > 0xdfff) out += encodeURIComponent(s[i] as string);
    else out += [0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
  }
  return out;
}

export function registerTextInputTests(name: string, make: MakeTextServer): void {
  describe(`text the database cannot store: ${name}`, () => {
    let t: TestServer;
    let n = 0;
    const uid = () => `d${++n}-${Math.random().toString(36).slice(2, 8)}`;
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const get = async (path: string) => {
      const res = await fetch(`${t.url}${path}`);
      return { status: res.status, body: (await res.json()) as Json };
    };

    beforeAll(async () => {
      t = await make();
    });
    afterAll(async () => {
      await t?.close();
    });

    for (const [what, bad] of BAD_TEXT) {
      for (const [where, build, path] of OPERATION_CASES) {
        test(`POST /operations: ${what} in the ${where} rejects that operation alone`, async () => {
          const badDoc = uid();
          const goodDoc = uid();
          const { status, body } = await post('/operations', {
            clientId: 'text-client',
            operations: [
              { id: opId(), type: 'insert', collection: 'texts', ...build(bad, badDoc) },
              { id: opId(), type: 'insert', collection: 'texts', docId: goodDoc, data: { s: 'fine ✓ 😀' } },
            ],
          });
          expect(status).toBe(200);
          expect(body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'INVALID_TEXT', path } });
          expect(body.results[1]).toMatchObject({ status: 'applied', docId: goodDoc });
          expect((await get(`/documents/texts/${goodDoc}`)).body).toMatchObject({ _id: goodDoc, s: 'fine ✓ 😀' });
          expect((await get(`/documents/texts/${badDoc}`)).status).toBe(404);
        });
      }

      test(`POST /operations: ${what} in the request's clientId is a 400 INVALID_TEXT`, async () => {
        const docId = uid();
        const { status, body } = await post('/operations', {
          clientId: bad,
          operations: [{ id: opId(), type: 'insert', collection: 'texts', docId, data: { n: 1 } }],
        });
        expect(status).toBe(400);
        expect(body).toMatchObject({ code: 'INVALID_TEXT', details: { path: 'body.clientId' } });
        expect((await get(`/documents/texts/${docId}`)).status).toBe(404);
      });

      test(`POST /changes: ${what} in clientId is a 400 INVALID_TEXT`, async () => {
        const { status, body } = await post('/changes', { since: 0, clientId: bad });
        expect(status).toBe(400);
        expect(body).toMatchObject({ code: 'INVALID_TEXT', details: { path: 'body.clientId' } });
      });

      test(`GET /documents/:collection/:id: ${what} in the id is a 400 INVALID_TEXT`, async () => {
        const { status, body } = await get(`/documents/texts/${wtf8(bad)}`);
        expect(status).toBe(400);
        expect(body).toMatchObject({ code: 'INVALID_TEXT' });
      });

      test(`POST /documents/:collection/query: ${what} in a filter value, a field name or the cursor is a 400 INVALID_TEXT`, async () => {
        for (const req of [{ filter: { s: bad } }, { filter: { s: { $in: ['x', bad] } } }, { filter: { [bad]: 1 } }, { cursor: bad }]) {
          const { status, body } = await post('/documents/texts/query', req);
          expect(status, JSON.stringify(req)).toBe(400);
          expect(body, JSON.stringify(req)).toMatchObject({ code: 'INVALID_TEXT' });
        }
      });

      test(`/sync push: ${what} rejects that operation alone; in the clientId the push`, async () => {
        const socket = connect(`${t.url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false });
        try {
          const push = (payload: unknown) => socket.timeout(10_000).emitWithAck('push', payload) as Promise<Json>;
          const goodDoc = uid();
          const reply = await push({
            clientId: 'sync-text',
            operations: [
              { id: opId(), type: 'insert', collection: 'texts', docId: uid(), data: { s: bad } },
              { id: opId(), type: 'insert', collection: 'texts', docId: goodDoc, data: { s: 'ok' } },
            ],
          });
          expect(reply.ok).toBe(true);
          expect(reply.results[0]).toMatchObject({ status: 'rejected', error: { code: 'INVALID_TEXT', path: 'operations[0].data.s' } });
          expect(reply.results[1]).toMatchObject({ status: 'applied', docId: goodDoc });
          const refused = await push({ clientId: bad, operations: [] });
          expect(refused).toMatchObject({ ok: false, error: { code: 'INVALID_TEXT' } });
          const sub = (await socket.timeout(10_000).emitWithAck('subscribe', { collection: 'texts', filter: { s: bad } })) as Json;
          expect(sub).toMatchObject({ ok: false, error: { code: 'INVALID_TEXT' } });
        } finally {
          socket.disconnect();
        }
      });

      test(`/sendActions: ${what} NACKs that action alone`, async () => {
        const c = await ActionsClient.connect(t.url, { clientId: `actions-text-${uid()}` });
        try {
          const goodDoc = uid();
          c.send([
            { id: 1, type: 'CREATE', collection: 'texts', data: { id: uid(), s: bad } },
            { id: 2, type: 'CREATE', collection: 'texts', data: { id: bad } },
            { id: 3, type: 'READ', collection: 'texts', data: { id: bad } },
            { id: `a${bad}`, type: 'CREATE', collection: 'texts', data: { id: uid() } },
            { id: 5, type: 'CREATE', collection: 'texts', data: { id: goodDoc, s: 'ok' } },
          ]);
          for (const id of [1, 2, 3, `a${bad}`]) {
            expect(await c.result(id)).toMatchObject({ status: 'NACK', error: { code: 'INVALID_TEXT' } });
          }
          expect(await c.result(5)).toMatchObject({ status: 'ACK' });
          c.fin(5);
          await c.committed(5);
          expect((await get(`/documents/texts/${goodDoc}`)).status).toBe(200);
        } finally {
          c.close();
        }
        // A client id the database cannot store is not used (the connection's own id stands in).
        const odd = await ActionsClient.connect(t.url, { clientId: bad });
        try {
          expect(odd.all('connected')[0].clientId).toMatch(/^socket:/);
        } finally {
          odd.close();
        }
      });
    }

    test('the server is still up and text that is fine (astral characters, paired surrogates) is stored unchanged', async () => {
      const docId = `ok-😀-${uid()}`;
      const data = { s: 'x\u2028y\ufffe😀', '😀': ['\ud83d\ude00'], nested: { ключ: 'значение' } };
      const { body } = await post('/operations', {
        clientId: 'text-client',
        operations: [{ id: opId(), type: 'insert', collection: 'texts', docId, data }],
      });
      expect(body.results[0]).toMatchObject({ status: 'applied' });
      expect((await get(`/documents/texts/${encodeURIComponent(docId)}`)).body).toMatchObject({ _id: docId, ...data });
      expect((await get('/health')).body).toMatchObject({ status: 'ok' });
    });
  });
}
