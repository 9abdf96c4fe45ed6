import { readFileSync } from 'node:fs';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import { SynclineError } from '@syncline/protocol';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Server as SocketServer } from 'socket.io';
import { loadConfig } from './config/load-config.js';
import type { Config, ConfigInput } from './config/options.js';
import { createStorage } from './storage/create-storage.js';
import type { Storage } from './storage/storage.js';
import { registerRoutes } from './transport/http-routes.js';
import { registerSendActions } from './transport/send-actions.js';
import { closeSocketServer, createSocketServer } from './transport/socket-server.js';
import { registerSyncNamespace } from './transport/sync-namespace.js';

export interface CreateServerOptions extends ConfigInput {
  /** Use this storage instead of opening one from the configuration. */
  storage?: Storage;
  /** Attach to an existing Node HTTP server instead of creating one; `listen()` is then the caller's job. */
  server?: HttpServer;
  /** Environment to read configuration from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface SynclineServer {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly storage: Storage;
  /** The Socket.IO server (namespaces `/sync` and `/sendActions`). */
  readonly io: SocketServer;
  /** Starts listening on config.host:config.port; resolves with the address. */
  listen(): Promise<string>;
  /** Stops accepting requests, lets in-flight ones finish, closes storage. */
  close(): Promise<void>;
}

export async function createServer(options: CreateServerOptions = {}): Promise<SynclineServer> {
  const { storage: givenStorage, server: httpServer, env, ...input } = options;
  const config = loadConfig(input, env);
  const storage = givenStorage ?? (await createStorage(config));
  try {
    await storage.migrate();
  } catch (err) {
    if (!givenStorage) await storage.close().catch(() => {});
    throw err;
  }

  if (config.useSsl && httpServer) {
    throw new SynclineError('INVALID_CONFIG', 'USE_SSL cannot be combined with an existing server: terminate TLS on that server.');
  }
  let tls: { key: Buffer; cert: Buffer } | undefined;
  if (config.useSsl) {
    try {
      tls = { key: readFileSync(config.tlsKeyFile as string), cert: readFileSync(config.tlsCertFile as string) };
    } catch (err) {
      throw new SynclineError('INVALID_CONFIG', `USE_SSL: cannot read TLS_CERT_FILE / TLS_KEY_FILE: ${(err as Error).message}`);
    }
  }

  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
    logController: new LogController({ disableRequestLogging: !config.logRequests }),
    bodyLimit: config.bodyLimit,
    ...(tls ? { https: tls } : {}),
    ...(httpServer
      ? {
          serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
            httpServer.on('request', handler);
            return httpServer;
          },
        }
      : {}),
  });
  if (config.corsOrigin !== 'false') {
    const origins = config.corsOrigin.split(',').map((o) => o.trim());
    await app.register(cors, { origin: origins.length === 1 && origins[0] === '*' ? '*' : origins, maxAge: 600 });
  }
  registerRoutes(app, storage, config);
  await app.ready();
  const io = createSocketServer(app.server, config);
  const deps = { storage, config, log: app.log };
  const stopSync = await registerSyncNamespace(io, deps);
  const stopActions = await registerSendActions(io, deps);

  let closed = false;
  return {
    config,
    app,
    storage,
    io,
    async listen() {
      return app.listen({ port: config.port, host: config.host });
    },
    async close() {
      if (closed) return;
      closed = true;
      // Open actions roll back, subscribers disconnect, then HTTP stops.
      await stopActions();
      await stopSync();
      await closeSocketServer(io);
      await app.close();
      if (!givenStorage) await storage.close();
    },
  };
}
