/**
 * Issue 5's randomized check: random writes by random users under five kinds
 * of rules, then everything each user receives compared with an oracle written
 * from the rules by hand (it does not use the Policy code): on REST (write
 * results, get, query, pull; at least 10,000 checks) and on /sync (live frames
 * of every user, and a catch-up from before the writes). Zero leaked rows, zero
 * leaked fields, zero forbidden writes applied.
 */
import type { Change, OperationResult } from '@syncline/protocol';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SynclineServer } from '../src/server.js';
import { HS_SECRET } from './esink-tokens.js';
import { startPgliteServer } from './server-harness.js';

type Row = Record<string, unknown>;
interface User {
  id: string;
  teams: string[];
  role: string;
}
const USERS: User[] = [
  { id: 'u1', teams: ['t1'], role: 'admin' },
  { id: 'u2', teams: ['t2'], role: 'user' },
  { id: 'u3', teams: ['t1', 't2'], role: 'user' },
  { id: 'u4', teams: [], role: 'user' },
];
const COLLECTIONS = ['c_owner', 'c_multi', 'c_team', 'c_public', 'c_none'] as const;
type Coll = (typeof COLLECTIONS)[number];
type Kind = 'insert' | 'update' | 'delete';
const HIDDEN: Record<string, string[]> = { c_owner: ['secret'] };

/** The oracle: the rules below, restated by hand. */
const oracle = {
  read(c: Coll, u: User, r: Row): boolean {
    if (c === 'c_owner') return r.owner === u.id;
    if (c === 'c_multi') return r.a === u.id || r.b === u.id;
    if (c === 'c_team') return u.teams.includes(r.team as string);
    return c === 'c_public';
  },
  write(c: Coll, u: User, kind: Kind, before: Row | undefined, after: Row | undefined): boolean {
    if (c === 'c_owner') return [before, after].every((r) => r === undefined || r.owner === u.id);
    if (c === 'c_multi') return [before, after].every((r) => r === undefined || r.a === u.id || r.b === u.id);
    if (c === 'c_team') return u.role === 'admin';
    if (c === 'c_public') return kind === 'insert';
    return false;
  },
};

const visible = (c: Coll, r: Row): Row => {
  const out = { ...r };
  for (const f of HIDDEN[c] ?? []) delete out[f];
  return out;
};

describe('rules: randomized comparison with an oracle (REST and /sync)', () => {
  let server: SynclineServer;
  let url: string;
  const tokens = new Map<string, string>();
  let checks = 0;
  let run = 0;

  beforeAll(async () => {
    ({ server, url } = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        rateLimitPerMinute: 0,
        rules: {
          // writeHidden as the write rule: writers set `secret`, which is never served (the oracle checks that).
          c_owner: {
            read: { field: 'owner' },
            write: { field: 'owner' },
            writeHidden: { field: 'owner' },
            owner: 'owner',
            hidden: ['secret'],
          },
          c_multi: { read: { fields: ['a', 'b'] }, write: { fields: ['a', 'b'] } },
          c_team: { read: { field: 'team', inClaim: 'teams' }, write: { claim: 'role', in: ['admin'] } },
          c_public: { read: '*', write: { insert: '*' } },
        },
      },
    }));
    for (const u of USERS) {
      tokens.set(
        u.id,
        await new SignJWT({ sub: u.id, teams: u.teams, role: u.role })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(HS_SECRET)),
      );
    }
  });
  afterAll(() => server?.close());

  async function call<T>(u: User, method: string, path: string, body?: unknown): Promise<{ status: number; body: T; text: string }> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens.get(u.id)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as T, text };
  }

  const value = fc.constantFrom('u1', 'u2', 'u3', 'u4', 'x');
  const write = fc.record({
    user: fc.integer({ min: 0, max: 3 }),
    coll: fc.constantFrom(...COLLECTIONS),
    kind: fc.constantFrom<Kind>('insert', 'update', 'delete'),
    k: fc.integer({ min: 0, max: 3 }),
    data: fc.record(
      { owner: value, a: value, b: value, team: fc.constantFrom('t1', 't2', 't3'), n: fc.integer({ min: 0, max: 9 }) },
      { requiredKeys: [] },
    ),
  });

  type Write = typeof write extends fc.Arbitrary<infer T> ? T : never;

  /** Random writes through REST, each result checked against the oracle; returns the model of what exists. */
  async function applyWrites(writes: Write[], id: (k: number) => string): Promise<Map<string, Row>> {
    const model = new Map<string, Row>(); // `${coll}/${id}` → row
    for (const w of writes) {
      const u = USERS[w.user] as User;
      const key = `${w.coll}/${id(w.k)}`;
      const before = model.get(key);
      const data: Row = { ...w.data, secret: `s-${run}-${w.k}` };
      let after: Row | undefined;
      if (w.kind === 'insert') after = w.coll === 'c_owner' ? { ...data, owner: u.id } : data;
      else if (w.kind === 'update') after = before ? { ...before, ...data } : undefined;
      const possible = w.kind === 'insert' ? before === undefined : before !== undefined;
      const allowed = possible && oracle.write(w.coll, u, w.kind, before, after);
      const op = {
        id: `op-${run}-${checks}-${Math.random()}`,
        type: w.kind === 'update' ? 'patch' : w.kind,
        collection: w.coll,
        docId: id(w.k),
      };
      const res = await call<{ results: OperationResult[] }>(u, 'POST', '/operations', {
        clientId: u.id,
        operations: [w.kind === 'delete' ? op : { ...op, data }],
      });
      const r = res.body.results[0] as OperationResult;
      expect(r.status === 'applied', `${u.id} ${w.kind} ${key}: ${JSON.stringify(r)}`).toBe(allowed);
      // A result shows a document only to someone who may read it: the old one on a refusal,
      // the new one when applied (which may be readable now, after the write).
      const shown = allowed && after !== undefined && oracle.read(w.coll, u, after);
      if (before && !oracle.read(w.coll, u, before) && !shown) expect(res.text).not.toContain(`"${id(w.k)}","_rev"`);
      if (before && !oracle.read(w.coll, u, before)) expect(r.serverDocument).toBeUndefined();
      if (allowed && after && !oracle.read(w.coll, u, after)) expect(r.document).toBeUndefined();
      checks++;
      if (allowed) {
        if (w.kind === 'delete') model.delete(key);
        else model.set(key, after as Row);
      }
    }
    return model;
  }

  test('no forbidden write applied, no unreadable row or hidden field served, on every REST path', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(write, { minLength: 4, maxLength: 14 }), async (writes) => {
        run++;
        const id = (k: number) => `r${run}-d${k}`;
        const since = await server.storage.currentPosition();
        const model = await applyWrites(writes, id);

        for (const u of USERS) {
          for (const c of COLLECTIONS) {
            const mine = [...model].filter(([key, row]) => key.startsWith(`${c}/`) && oracle.read(c, u, row));
            const q = await call<{ documents: Row[] }>(u, 'POST', `/documents/${c}/query`, {
              filter: { _id: { $in: [0, 1, 2, 3].map(id) } },
              limit: 100,
            });
            const got = q.body.documents.map(({ _rev: _r, ...d }) => d).sort((x, y) => String(x._id).localeCompare(String(y._id)));
            const want = mine
              .map(([key, row]) => ({ ...visible(c, row), _id: key.split('/')[1] as string }))
              .sort((x, y) => x._id.localeCompare(y._id));
            expect(got).toEqual(want);
            checks++;
            for (let k = 0; k < 4; k++) {
              const row = model.get(`${c}/${id(k)}`);
              const g = await call<Row>(u, 'GET', `/documents/${c}/${id(k)}`);
              const readable = row !== undefined && oracle.read(c, u, row);
              expect(g.status).toBe(readable ? 200 : 404);
              if (readable) expect(g.body).toMatchObject(visible(c, row as Row));
              for (const f of HIDDEN[c] ?? []) expect(g.body).not.toHaveProperty(f);
              checks++;
            }
          }
          // A pull from before this run: replaying it gives exactly what this user may read now, and every row it carried was readable then.
          const pull = await call<{ operations: Change[] }>(u, 'POST', '/changes', { since, limit: 1000 });
          const replica = new Map<string, Row>();
          for (const ch of pull.body.operations) {
            const key = `${ch.collection}/${ch.docId}`;
            if (ch.type === 'delete') replica.delete(key);
            else {
              expect(oracle.read(ch.collection as Coll, u, ch.data as Row), `${u.id} received ${key}`).toBe(true);
              replica.set(key, ch.data as Row);
            }
            for (const f of HIDDEN[ch.collection] ?? []) expect(ch.data ?? {}).not.toHaveProperty(f);
            checks++;
          }
          const want = new Map(
            [...model]
              .filter(([key, row]) => oracle.read(key.split('/')[0] as Coll, u, row))
              .map(([k, r]) => [k, visible(k.split('/')[0] as Coll, r)]),
          );
          expect(new Map([...replica].map(([k, r]) => [k, r]))).toEqual(want);
          checks++;
        }
      }),
      { numRuns: 100 },
    );
    expect(checks).toBeGreaterThanOrEqual(10_000);
  }, 300_000);

  test('/sync: live frames and catch-up of every user carry exactly the readable rows, no hidden field', async () => {
    // One socket per user, live-subscribed to every collection for the whole property.
    const subs = new Map<string, { user: User; collection: Coll }>();
    const received = new Map<string, Change[]>(); // `${user}/${collection}` → live changes
    const sockets: Socket[] = [];
    for (const u of USERS) {
      const socket = connect(`${url}/sync`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: { token: tokens.get(u.id) },
      });
      sockets.push(socket);
      socket.on('changes', (f: { subscriptionId: string; changes: Change[] }) => {
        const sub = subs.get(`${u.id}/${f.subscriptionId}`);
        if (sub) received.get(`${u.id}/${sub.collection}`)?.push(...f.changes);
      });
      for (const c of COLLECTIONS) {
        const ack = await socket.timeout(5000).emitWithAck('subscribe', { collection: c });
        expect(ack.ok).toBe(true);
        subs.set(`${u.id}/${ack.subscriptionId}`, { user: u, collection: c });
        received.set(`${u.id}/${c}`, []);
      }
    }
    const replay = (changes: Change[], prefix: string) => {
      const replica = new Map<string, Row>();
      for (const ch of changes) {
        if (!ch.docId.startsWith(prefix)) continue;
        if (ch.type === 'delete') replica.delete(ch.docId);
        else replica.set(ch.docId, ch.data as Row);
      }
      return replica;
    };
    const expected = (model: Map<string, Row>, c: Coll, u: User) =>
      new Map(
        [...model]
          .filter(([key, row]) => key.startsWith(`${c}/`) && oracle.read(c, u, row))
          .map(([key, row]) => [key.split('/')[1] as string, visible(c, row)]),
      );
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(write, { minLength: 4, maxLength: 14 }), fc.integer({ min: 0, max: 3 }), async (writes, catchUpUser) => {
          run++;
          const prefix = `r${run}-`;
          const id = (k: number) => `${prefix}d${k}`;
          const since = await server.storage.currentPosition();
          const model = await applyWrites(writes, id);
          // Barrier: a public row every user receives after everything written before it.
          const marker = `${prefix}marker`;
          await call(USERS[0] as User, 'POST', '/operations', {
            clientId: 'barrier',
            operations: [{ id: `barrier-${run}`, type: 'insert', collection: 'c_public', docId: marker, data: { n: 0 } }],
          });
          model.set(`c_public/${marker}`, { n: 0 });
          for (const u of USERS) {
            await expect.poll(() => received.get(`${u.id}/c_public`)?.some((ch) => ch.docId === marker), { timeout: 10_000 }).toBe(true);
          }
          for (const u of USERS) {
            for (const c of COLLECTIONS) {
              const live = received.get(`${u.id}/${c}`) ?? [];
              for (const ch of live) {
                if (ch.data) expect(oracle.read(c, u, ch.data as Row), `${u.id} got ${c}/${ch.docId}`).toBe(true);
                for (const f of HIDDEN[c] ?? []) expect(ch.data ?? {}).not.toHaveProperty(f);
              }
              expect(replay(live, prefix)).toEqual(expected(model, c, u));
              checks++;
            }
          }
          // Catch-up from before the run, for one user: the same state from the log.
          const u = USERS[catchUpUser] as User;
          const socket = connect(`${url}/sync`, {
            transports: ['websocket'],
            forceNew: true,
            reconnection: false,
            auth: { token: tokens.get(u.id) },
          });
          try {
            for (const c of COLLECTIONS) {
              const ack = await socket.timeout(5000).emitWithAck('subscribe', { collection: c, since });
              expect(ack.ok).toBe(true);
              const changes = (ack.changes ?? []) as Change[];
              for (const ch of changes) {
                expect(ch).not.toHaveProperty('old');
                for (const f of HIDDEN[c] ?? []) expect(ch.data ?? {}).not.toHaveProperty(f);
              }
              expect(replay(changes, prefix)).toEqual(expected(model, c, u));
              checks++;
            }
          } finally {
            socket.disconnect();
          }
          for (const list of received.values()) list.length = 0;
        }),
        { numRuns: 40 },
      );
    } finally {
      for (const s of sockets) s.disconnect();
    }
  }, 300_000);
});
