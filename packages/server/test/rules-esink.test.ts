/**
 * With authentication configured, the default namespace routes by the read
 * rules: column rules by rooms, other rules (claims) per socket, with moved
 * documents as delete/insert and hidden fields removed.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SynclineServer } from '../src/server.js';
import { EsinkClient, until, wait } from './esink-client.js';
import { HS_SECRET } from './esink-tokens.js';
import { opId } from './harness.js';
import { startPgliteServer } from './server-harness.js';

const token = (sub: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub, ...claims }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(HS_SECRET));

describe('default namespace routed by rules (PGlite)', () => {
  let server: SynclineServer;
  let url: string;
  const clients: EsinkClient[] = [];
  const write = (ops: Record<string, unknown>[]) =>
    server.storage.applyOperations(
      'seed',
      ops.map((o) => ({ id: opId(), ...o })),
    );

  beforeAll(async () => {
    ({ server, url } = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        rules: {
          notes: { read: { field: 'owner' }, hidden: ['secret'] },
          teamdocs: { read: { field: 'team', inClaim: 'teams' } },
        },
      },
    }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  const client = async (sub: string, claims: Record<string, unknown> = {}) => {
    const c = await new EsinkClient(url, await token(sub, claims)).ready();
    clients.push(c);
    return c;
  };

  test('column rule by rooms, claim rule per socket; moves are delete/insert; nothing hidden, nothing foreign', async () => {
    const alice = await client('alice', { teams: ['red'] });
    const bob = await client('bob', { teams: ['blue'] });
    await write([
      { type: 'insert', collection: 'notes', docId: 'n1', data: { owner: 'alice', secret: 'S1' } },
      { type: 'insert', collection: 'teamdocs', docId: 'd1', data: { team: 'red', title: 'r' } },
      { type: 'insert', collection: 'teamdocs', docId: 'd2', data: { team: 'blue', title: 'b' } },
    ]);
    await until(() => alice.changes.length >= 2 && bob.changes.length >= 1);
    await write([
      { type: 'patch', collection: 'teamdocs', docId: 'd1', data: { team: 'blue' } },
      { type: 'patch', collection: 'notes', docId: 'n1', data: { owner: 'bob' } },
    ]);
    await until(() => alice.changes.length >= 4 && bob.changes.length >= 3);
    await wait(100);
    const seen = (c: EsinkClient) => c.changes.map((p) => `${p.table}:${p.type}:${(p.data as { _id?: string })?._id}`);
    // In commit order (one batch writes its documents in key order: notes before teamdocs).
    expect(seen(alice)).toEqual(['notes:insert:n1', 'teamdocs:insert:d1', 'notes:delete:n1', 'teamdocs:delete:d1']);
    expect(seen(bob)).toEqual(['teamdocs:insert:d2', 'notes:insert:n1', 'teamdocs:insert:d1']);
    for (const c of [alice, bob]) expect(JSON.stringify([c.changes, c.tableEvents])).not.toContain('S1');
  });
});
