/**
 * Three server processes on one PostgreSQL, joined by a bus (issue 6): a write
 * on A reaches subscribers on B and C; the bus stopping and coming back
 * mid-stream loses no change; killing an instance moves its clients to another
 * without a gap; `sync: false` stays on its instance. Registered once per bus.
 */
import type { Change } from '@syncline/protocol';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Cluster, StoppableProxy, startCluster } from './cluster.js';
import { opId } from './harness.js';
import { Follower, until, wait } from './sync-follower.js';

const SECURITY_TOKEN = 'cluster-publish-token';

export interface ClusterTarget {
  /** The bus service's URL and default port. */
  url: string;
  defaultPort: number;
  /** Probes the service (throws in CI when it is down, false elsewhere). */
  available: () => Promise<boolean>;
  serializer?: 'json' | 'msgpack';
}

interface Health {
  status: string;
  bus: { state: string; busBatches: number; readBatches: number; received: number };
}

const health = async (url: string): Promise<Health> => (await fetch(`${url}/health`)).json() as Promise<Health>;

async function push(url: string, ops: Record<string, unknown>[], clientId = 'cluster-writer'): Promise<void> {
  const res = await fetch(`${url}/operations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId, operations: ops }),
  });
  if (res.status !== 200) throw new Error(`push failed: ${res.status} ${await res.text()}`);
}

const insert = (collection: string, docId: string, data: Record<string, unknown> = {}) => ({
  id: opId(),
  type: 'insert',
  collection,
  docId,
  data,
});

/** Every change of `collection` after `since`, from the log (through `url`'s REST pull). */
async function pullAll(url: string, collection: string, since = 0): Promise<Change[]> {
  const out: Change[] = [];
  for (let cursor = since; ; ) {
    const res = await fetch(`${url}/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ since: cursor, limit: 1000 }),
    });
    const page = (await res.json()) as { operations: Change[]; checkpoint: number; hasMore: boolean };
    out.push(...page.operations.filter((c) => c.collection === collection));
    if (!page.hasMore) return out;
    cursor = page.checkpoint;
  }
}

/** Writes `n` inserts one by one every `everyMs`; `at(i)` runs before insert i. */
async function writeSlowly(url: string, collection: string, n: number, everyMs: number, at?: (i: number) => Promise<void>) {
  for (let i = 0; i < n; i++) {
    await at?.(i);
    await push(url, [insert(collection, `d${i}`, { i })]);
    await wait(everyMs);
  }
}

export function registerClusterTests(name: string, target: ClusterTarget): void {
  describe(`three instances joined by ${name}`, async () => {
    const ok = await target.available();
    let proxy: StoppableProxy;
    let cluster: Cluster;
    const followers: Follower[] = [];
    const follow = (url: string) => {
      const f = new Follower(url);
      followers.push(f);
      return f;
    };
    const url = (i: number) => cluster.instances[i]?.url as string;

    beforeAll(async () => {
      if (!ok) return;
      proxy = await StoppableProxy.to(target.url, target.defaultPort);
      cluster = await startCluster({
        busUrl: proxy.url(target.url),
        busName: `t${Math.random().toString(36).slice(2, 10)}`,
        ...(target.serializer ? { serializer: target.serializer } : {}),
        env: { SECURITY_TOKEN, TABLE_AUTH_COLUMN_ROUTING: JSON.stringify({ news: '*' }) },
      });
    }, 90_000);

    afterAll(async () => {
      for (const f of followers) f.close();
      await cluster?.close();
      await proxy?.stop();
    });

    test.skipIf(!ok)('a write on A reaches subscribers on B and C, as batches over the bus, in log order without gaps', async () => {
      const b = follow(url(1));
      const c = follow(url(2));
      await b.subscribe({ collection: 'spread' });
      await c.subscribe({ collection: 'spread' });
      const before = (await health(url(1))).bus.busBatches;
      for (let i = 0; i < 10; i++)
        await push(
          url(0),
          Array.from({ length: 10 }, (_, j) => insert('spread', `d${i * 10 + j}`)),
        );
      await until(() => b.changes.length >= 100 && c.changes.length >= 100, 20_000);
      const log = (await pullAll(url(0), 'spread')).map((x) => x.position);
      expect(log).toHaveLength(100);
      for (const f of [b, c]) {
        expect(f.changes.map((x) => x.position)).toEqual(log);
        expect(f.gaps).toBe(0);
      }
      const h = await health(url(1));
      expect(h).toMatchObject({ status: 'ok', bus: { state: 'up' } });
      expect(h.bus.busBatches).toBeGreaterThan(before);
    });

    test.skipIf(!ok)('sync: false stays on its instance: live there, not on the others (which still see it in a pull)', async () => {
      const a = follow(url(0));
      const b = follow(url(1));
      await a.subscribe({ collection: 'optout' });
      await b.subscribe({ collection: 'optout' });
      const localOnly = { ...insert('optout', 'local-only'), sync: false };
      await push(url(0), [localOnly]);
      // Another client's operation with the same id is its own (ids are scoped to their caller): it is shared.
      await push(url(0), [{ ...insert('optout', 'same-id-other-client'), id: localOnly.id }], 'cluster-other-writer');
      await push(url(0), [insert('optout', 'everywhere')]);
      await until(() => a.changes.length >= 3 && b.changes.length >= 2);
      await wait(300);
      expect(a.changes.map((x) => x.docId)).toEqual(['local-only', 'same-id-other-client', 'everywhere']);
      expect(b.changes.map((x) => x.docId)).toEqual(['same-id-other-client', 'everywhere']);
      expect((await pullAll(url(1), 'optout')).map((x) => x.docId)).toEqual(['local-only', 'same-id-other-client', 'everywhere']);

      // The same for a published event.
      const events = await Promise.all(
        [0, 1].map(
          (i) =>
            new Promise<{ socket: Socket; got: string[] }>((resolve) => {
              const socket = connect(url(i), { transports: ['websocket'], forceNew: true, reconnection: false });
              const got: string[] = [];
              socket.on('news', (e: { data: { id: string } }) => got.push(e.data.id));
              socket.on('connected', () => resolve({ socket, got }));
            }),
        ),
      );
      const publish = (id: string, sync?: boolean) =>
        fetch(`${url(0)}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ securityToken: SECURITY_TOKEN, table: 'news', type: 'insert', userId: '*', data: { id }, sync }),
        });
      expect((await publish('p-local', false)).status).toBe(200);
      expect((await publish('p-shared')).status).toBe(200);
      await until(() => (events[0]?.got.length ?? 0) >= 2 && (events[1]?.got.length ?? 0) >= 1);
      await wait(300);
      expect(events[0]?.got).toEqual(['p-local', 'p-shared']);
      expect(events[1]?.got).toEqual(['p-shared']);
      for (const e of events) e.socket.disconnect();
    });

    test.skipIf(!ok)('the bus stopping and coming back mid-stream loses no change; /health says degraded meanwhile', async () => {
      const b = follow(url(1));
      const c = follow(url(2));
      await b.subscribe({ collection: 'outage' });
      await c.subscribe({ collection: 'outage' });
      const states: string[] = [];
      await writeSlowly(url(0), 'outage', 150, 5, async (i) => {
        if (i === 50) {
          await proxy.stop();
          await until(async () => (await health(url(1))).status === 'degraded');
          states.push((await health(url(1))).bus.state);
        }
        if (i === 100) {
          await proxy.start();
          await until(async () => (await health(url(1))).status === 'ok', 15_000);
          states.push((await health(url(1))).bus.state);
        }
      });
      await until(() => b.changes.length >= 150 && c.changes.length >= 150, 20_000);
      const log = (await pullAll(url(0), 'outage')).map((x) => x.position);
      expect(log).toHaveLength(150);
      for (const f of [b, c]) {
        expect(f.changes.map((x) => x.position)).toEqual(log);
        expect(f.gaps).toBe(0);
      }
      expect(states).toEqual(['down', 'up']);
      // And messages travel over the bus again (the batch from whichever instance sequenced the write).
      const before = (await health(url(2))).bus.received;
      await push(url(0), [insert('outage', 'after')]);
      await until(() => c.changes.length >= 151);
      await until(async () => (await health(url(2))).bus.received > before);
    });

    test.skipIf(!ok)('killing an instance: its client resumes on another from its last position, no gap, no duplicate', async () => {
      const onC = follow(url(2));
      await onC.subscribe({ collection: 'failover' });
      let moved: Follower | undefined;
      await writeSlowly(url(0), 'failover', 120, 5, async (i) => {
        if (i === 40) {
          await cluster.kill(2);
          await until(() => !onC.socket.connected);
          // The client reconnects elsewhere (no sticky sessions) with what it has.
          moved = follow(url(1));
          const ack = await moved.subscribe({ collection: 'failover', since: onC.last });
          expect(ack.ok).toBe(true);
        }
      });
      const resumed = moved as Follower;
      const total = () => onC.changes.length + resumed.changes.length;
      await until(() => total() >= 120, 20_000);
      await wait(200);
      const log = (await pullAll(url(0), 'failover')).map((x) => x.position);
      expect(log).toHaveLength(120);
      expect([...onC.changes, ...resumed.changes].map((x) => x.position)).toEqual(log);
      expect(resumed.gaps).toBe(0);
    });
  });
}
