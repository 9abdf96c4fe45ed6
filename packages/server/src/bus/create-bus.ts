import { randomUUID } from 'node:crypto';
import { SynclineError } from '@syncline/protocol';
import { AmqpTransport } from './amqp-transport.js';
import type { EventBusOptions } from './event-bus.js';
import { EventBus } from './event-bus.js';
import { InProcessTransport } from './in-process-transport.js';
import { NatsTransport } from './nats-transport.js';
import { PostgresTransport } from './postgres-transport.js';
import { RedisTransport } from './redis-transport.js';
import type { SerializerOption } from './serializer.js';
import type { BusTransport, TransportOptions } from './transport.js';

export interface BusOptions extends Partial<Omit<EventBusOptions, 'transport' | 'serializer'>> {
  /**
   * Selects the backend by scheme: `redis://`, `rediss://`, `nats://`, `amqp://`,
   * `amqps://`, `postgres://`, `postgresql://`. None: the in-process bus.
   */
  url?: string;
  /** A custom backend instead of `url` (see BusTransport). */
  transport?: BusTransport;
  /** Redis channel, NATS subject, AMQP exchange or PostgreSQL channel that the instances share. Default `syncline`. */
  name?: string;
  /** `json` (default), `msgpack`, or your own `{serialize, deserialize}`. Every instance must use the same. */
  serializer?: SerializerOption;
  /** This instance's id (stamped as `origin` on what it publishes). Default: a random UUID. */
  instanceId?: string;
  /** ioredis options for a `redis://` bus (TLS, password, sentinels, retry...), as feathers-sync's `redisOptions`. */
  redisOptions?: Record<string, unknown>;
  /** nats.js `connect()` options for a `nats://` bus (tls, user/pass, token, reconnect...), as feathers-sync's. */
  natsConnectionOptions?: Record<string, unknown>;
  /** amqplib `connect()` socket options for an `amqp://` bus (cert, key, ca, credentials...), as feathers-sync's. */
  amqpConnectionOptions?: Record<string, unknown>;
}

const NAME = /^[A-Za-z0-9_.:-]{1,63}$/;

const transports: Record<string, new (options: TransportOptions & { url: string }) => BusTransport> = {
  'redis:': RedisTransport,
  'rediss:': RedisTransport,
  'nats:': NatsTransport,
  'amqp:': AmqpTransport,
  'amqps:': AmqpTransport,
  'postgres:': PostgresTransport,
  'postgresql:': PostgresTransport,
};

/**
 * Creates the event bus and starts connecting (await `bus.ready`). Throws
 * INVALID_CONFIG for an unknown scheme or a bad name. The backend's driver is
 * loaded only when its bus is created.
 */
export function createBus(options: BusOptions = {}): EventBus {
  const name = options.name ?? 'syncline';
  if (!NAME.test(name)) {
    throw new SynclineError('INVALID_CONFIG', 'The bus name must be 1-63 characters of A-Z a-z 0-9 _ . : -', { name });
  }
  const instanceId = options.instanceId ?? randomUUID();
  const { url, transport: custom, serializer, redisOptions, natsConnectionOptions, amqpConnectionOptions, ...limits } = options;
  let transport = custom;
  if (!transport && url) {
    let scheme: string;
    try {
      scheme = new URL(url).protocol;
    } catch {
      throw new SynclineError('INVALID_CONFIG', 'The bus URL is not a valid URL.');
    }
    const Transport = transports[scheme];
    if (!Transport) {
      throw new SynclineError('INVALID_CONFIG', `Unknown bus URL scheme ${scheme}; use ${Object.keys(transports).join(' ')} or none.`, {
        scheme,
      });
    }
    const connectionOptions =
      scheme === 'redis:' || scheme === 'rediss:'
        ? redisOptions
        : scheme === 'nats:'
          ? natsConnectionOptions
          : scheme === 'amqp:' || scheme === 'amqps:'
            ? amqpConnectionOptions
            : undefined;
    transport = new Transport({ url, name, instanceId, ...(connectionOptions ? { connectionOptions } : {}) });
  }
  transport ??= new InProcessTransport({ name });
  return new EventBus({ ...limits, transport, name, instanceId, ...(serializer ? { serializer } : {}) });
}
