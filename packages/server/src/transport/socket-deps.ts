import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/options.js';
import type { Storage } from '../storage/storage.js';

/** What a Socket.IO namespace handler gets from the server. */
export interface SocketDeps {
  storage: Storage;
  config: Config;
  log: FastifyBaseLogger;
}

/** Stops a namespace's background work (called on server close). */
export type StopNamespace = () => Promise<void>;
