/**
 * The client under read rules: a token per user; a row that leaves a user's
 * reach (its owner changed by someone else) is removed from that replica, and
 * one that enters it appears — with no hidden field ever reaching the replica.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HS_SECRET, jwtFor } from '../../server/test/esink-tokens.js';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { createClient } from '../src/client.js';
import { MemoryStore } from '../src/store/memory-store.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startPgliteServer({
    config: {
      jwtSecret: HS_SECRET,
      rules: { notes: { read: { field: 'owner' }, write: { field: 'owner' }, hidden: ['secret'], writeHidden: { field: 'owner' } } },
    },
  });
});
afterAll(() => srv?.close());

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('rows leaving a user’s reach are removed from the replica, rows entering it appear; hidden fields never arrive', async () => {
  const alice = createClient({
    url: srv.url,
    store: new MemoryStore(),
    auth: () => jwtFor('alice'),
    socketOptions: { transports: ['websocket'] },
  });
  const bob = createClient({
    url: srv.url,
    store: new MemoryStore(),
    auth: { token: await jwtFor('bob') },
    socketOptions: { transports: ['websocket'] },
  });
  try {
    await alice.collection('notes').insert({ _id: 'n1', owner: 'alice', text: 'mine', secret: 's1' });
    await alice.whenSynced();
    expect(await alice.collection('notes').get('n1')).toMatchObject({ owner: 'alice', text: 'mine' });
    bob.collection('notes');
    await bob.whenSynced();
    expect(await bob.collection('notes').find()).toEqual([]);

    // An admin (here: the server's storage) gives the note to bob.
    await srv.server.storage.applyOperations('admin', [
      { id: 'move-n1', type: 'patch', collection: 'notes', docId: 'n1', data: { owner: 'bob' } },
    ]);
    await until(async () => (await alice.collection('notes').get('n1')) === undefined);
    await until(async () => (await bob.collection('notes').get('n1')) !== undefined);
    const got = await bob.collection('notes').get('n1');
    expect(got).toMatchObject({ owner: 'bob', text: 'mine' });
    expect(got).not.toHaveProperty('secret');
    // A write the rules forbid is rejected and leaves nothing behind.
    await expect(alice.collection('notes').update('n1', { text: 'hijack' })).rejects.toMatchObject({
      code: expect.stringMatching(/FORBIDDEN|DOCUMENT_NOT_FOUND/),
    });
    expect(await alice.collection('notes').get('n1')).toBeUndefined();
  } finally {
    await alice.close();
    await bob.close();
  }
});
