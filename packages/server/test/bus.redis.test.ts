/** EventBus over Redis pub/sub; the drop test kills the bus's connections with CLIENT KILL. */
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { redisAvailable, redisUrl } from '../../../test/services.js';
import { registerBusTests } from './bus-conformance.js';

describe.skipIf(!(await redisAvailable()))('Redis bus', () => {
  registerBusTests({
    label: 'Redis',
    url: redisUrl,
    unreachableUrl: 'redis://127.0.0.1:1',
    async kill(bus) {
      const admin = new Redis(redisUrl, { lazyConnect: true });
      await admin.connect();
      try {
        const list = (await admin.call('CLIENT', 'LIST')) as string;
        const ids = list
          .split('\n')
          .filter((line) => line.includes(` name=syncline-bus-${bus.instanceId}-`))
          .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] as string);
        expect(ids).toHaveLength(2);
        for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
      } finally {
        admin.disconnect();
      }
    },
  });
});
