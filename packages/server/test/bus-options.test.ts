/**
 * The bus driver's own connection options (feathers-sync's `redisOptions`, `natsConnectionOptions`,
 * `amqpConnectionOptions`), from the configuration and from createServer({bus}), reach the real drivers:
 * options the service refuses make the start fail naming the bus; accepted ones leave a working bus.
 */
import { describe, expect, test } from 'vitest';
import { amqpAvailable, amqpUrl, natsAvailable, natsUrl, redisAvailable, redisUrl } from '../../../test/services.js';
import { loadConfig } from '../src/config/load-config.js';
import { createServer } from '../src/server.js';

const start = (input: Record<string, unknown>) =>
  createServer({ dataDir: 'memory://', logLevel: 'silent', host: '127.0.0.1', port: 0, env: {}, ...input });

describe('bus connection options', () => {
  test('from the environment (JSON) or the config file; bad JSON and non-objects are named', () => {
    expect(loadConfig({}, { SYNCLINE_BUS_REDIS_OPTIONS: '{"tls": {"rejectUnauthorized": false}, "password": "p"}' }).redisOptions).toEqual({
      tls: { rejectUnauthorized: false },
      password: 'p',
    });
    expect(loadConfig({ natsConnectionOptions: { maxReconnectAttempts: 3 } }, {}).natsConnectionOptions).toEqual({
      maxReconnectAttempts: 3,
    });
    expect(() => loadConfig({}, { SYNCLINE_BUS_AMQP_OPTIONS: '{nope' })).toThrow(/SYNCLINE_BUS_AMQP_OPTIONS="\{nope": not valid JSON/);
    expect(() => loadConfig({}, { SYNCLINE_BUS_NATS_OPTIONS: '[1]' })).toThrow(
      /SYNCLINE_BUS_NATS_OPTIONS="\[1\]": expected an object of options/,
    );
  });

  test('Redis: a user the server does not know fails the start; accepted options give a working bus', async ({ skip }) => {
    if (!(await redisAvailable())) skip();
    await expect(
      start({ busUrl: redisUrl, redisOptions: { username: 'nobody', password: 'not-the-password', connectTimeout: 2000 } }),
    ).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/event bus \(redis\) cannot be reached.*WRONGPASS/),
    });
    const s = await start({
      busUrl: redisUrl,
      bus: { redisOptions: { connectTimeout: 3000, connectionName: 'ignored-syncline-names-it' } },
    });
    try {
      expect(s.bus.state).toBe('up');
    } finally {
      await s.close();
    }
  }, 120_000);

  test('NATS: tls required by the client fails against a plain server; accepted options give a working bus', async ({ skip }) => {
    if (!(await natsAvailable())) skip();
    await expect(start({ busUrl: natsUrl, natsConnectionOptions: { tls: {}, timeout: 2000 } })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/event bus \(nats\) cannot be reached/i),
    });
    const s = await start({ busUrl: natsUrl, natsConnectionOptions: { maxReconnectAttempts: 5, pingInterval: 5000 } });
    try {
      expect(s.bus.state).toBe('up');
    } finally {
      await s.close();
    }
  }, 120_000);

  test('RabbitMQ: credentials the broker refuses fail the start; accepted options give a working bus', async ({ skip }) => {
    if (!(await amqpAvailable())) skip();
    const { credentials } = await import('amqplib');
    await expect(
      start({ busUrl: amqpUrl, bus: { amqpConnectionOptions: { credentials: credentials.plain('nobody', 'wrong') } } }),
    ).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/event bus \(amqp\) cannot be reached/i) });
    const s = await start({ busUrl: amqpUrl, amqpConnectionOptions: { timeout: 4000 } });
    try {
      expect(s.bus.state).toBe('up');
    } finally {
      await s.close();
    }
  }, 120_000);
});
