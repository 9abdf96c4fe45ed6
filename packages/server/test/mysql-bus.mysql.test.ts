/**
 * MySQL/MariaDB with a bus (issue 6): while the bus is up one instance (the
 * lease holder) polls the target table, the others get captured changes over
 * the bus; when the holder goes away another takes the lease.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mysqlAvailable, mysqlConfig, redisAvailable, redisUrl, uniqueSchema } from '../../../test/services.js';
import { createServer, type SynclineServer } from '../src/server.js';
import type { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import { dropPrefixed, openMysqlClient } from './mysql-harness.js';
import { Follower, until } from './sync-follower.js';

const ok = (await mysqlAvailable()) && (await redisAvailable());

describe.skipIf(!ok)('MySQL/MariaDB instances joined by a bus', () => {
  const schema = uniqueSchema('mb');
  const busName = `mb${Math.random().toString(36).slice(2, 10)}`;
  const servers: SynclineServer[] = [];
  const urls: string[] = [];
  const followers: Follower[] = [];
  const start = async () => {
    const server = await createServer({
      env: {},
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      schema,
      mysqlDatabase: mysqlConfig.database,
      mysqlHost: mysqlConfig.host,
      mysqlPort: mysqlConfig.port,
      mysqlUsername: mysqlConfig.user,
      mysqlPassword: mysqlConfig.password,
      mysqlPollIntervalMs: 50,
      busUrl: redisUrl,
      busName,
    });
    servers.push(server);
    urls.push(await server.listen());
    return server;
  };
  const leader = (s: SynclineServer) => (s.storage as MysqlStorage).pollLeader;

  beforeAll(async () => {
    await start();
    await start();
  });

  afterAll(async () => {
    for (const f of followers) f.close();
    for (const s of servers) await s.close();
    const raw = await openMysqlClient();
    await dropPrefixed(raw, schema);
    await raw.close();
  });

  test('one instance holds the poller lease; a write made in SQL reaches subscribers of both; the lease moves when its holder stops', async () => {
    const [a, b] = servers as [SynclineServer, SynclineServer];
    await until(() => leader(a) !== leader(b), 10_000);
    const holder = leader(a) ? 0 : 1;
    const other = 1 - holder;
    for (const url of urls) {
      const f = new Follower(url);
      followers.push(f);
      await f.subscribe({ collection: 'notes' });
    }
    const raw = await openMysqlClient();
    try {
      // Another program writes the documents table directly.
      const insert = (id: string) =>
        raw.query(`INSERT INTO \`${schema}_documents\` (collection, id, data) VALUES ('notes', ?, JSON_OBJECT('by', 'sql'))`, [id]);
      await insert('n1');
      await until(() => followers.every((f) => f.changes.length >= 1), 10_000);
      for (const f of followers) expect(f.changes.map((c) => [c.docId, c.source])).toEqual([['n1', 'database']]);
      // The follower did not poll: it took the batch from the bus.
      const h = (await (await fetch(`${urls[other]}/health`)).json()) as { bus: { busBatches: number; readBatches: number } };
      expect(h.bus.busBatches).toBeGreaterThan(0);
      expect(h.bus.readBatches).toBe(0);

      await (servers[holder] as SynclineServer).close();
      await until(() => leader(servers[other] as SynclineServer), 10_000);
      await insert('n2');
      const f = followers[other] as Follower;
      await until(() => f.changes.length >= 2, 10_000);
      expect(f.changes.map((c) => c.docId)).toEqual(['n1', 'n2']);
    } finally {
      await raw.close();
    }
  });
});
