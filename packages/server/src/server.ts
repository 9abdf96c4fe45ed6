import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import { SynclineError } from '@syncline/protocol';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Server as SocketServer } from 'socket.io';
import { AdminMetrics } from './admin/admin-metrics.js';
import { registerAdminRoutes } from './admin/admin-routes.js';
import { prometheusMetrics } from './admin/prometheus.js';
import { recordingStorage } from './admin/recording-storage.js';
import { appMigrationStep } from './app/app-migrations.js';
import type { ProgressFactory } from './app/progress.js';
import { runSeeds } from './app/seeds.js';
import { Access, type AuthenticateFn } from './auth/access.js';
import { mergeRules, Policy } from './auth/policy.js';
import { publicStorage, visibleChanges } from './auth/public-storage.js';
import { createBus } from './bus/create-bus.js';
import type { EventBus } from './bus/event-bus.js';
import type { Serializer } from './bus/serializer.js';
import type { BusTransport } from './bus/transport.js';
import { loadConfig } from './config/load-config.js';
import type { Config, ConfigInput } from './config/options.js';
import { type OptOutOp, SharedFeed } from './engine/change-feed.js';
import { createStorage } from './storage/create-storage.js';
import { asCaller } from './storage/operation-scope.js';
import type { Storage } from './storage/storage.js';
import { storageView } from './storage/storage-view.js';
import { registerBodyDrain } from './transport/body-drain.js';
import { toSynclineError } from './transport/errors.js';
import { type EsinkNamespace, registerEsinkNamespace } from './transport/esink-namespace.js';
import { registerHttpAuth } from './transport/http-auth.js';
import { registerRoutes } from './transport/http-routes.js';
import { registerPublishRoute } from './transport/publish-route.js';
import { registerRestRateLimit, socketLimits } from './transport/rate-limits.js';
import { registerSendActions } from './transport/send-actions.js';
import { socketAuth } from './transport/socket-auth.js';
import { SocketExpiry } from './transport/socket-expiry.js';
import { closeSocketServer, createSocketServer } from './transport/socket-server.js';
import { registerStaticRoutes } from './transport/static-routes.js';
import { registerSyncNamespace } from './transport/sync-namespace.js';
import { loadTls } from './transport/tls.js';

export interface CreateServerOptions extends ConfigInput {
  /** Use this storage instead of opening one from the configuration. */
  storage?: Storage;
  /** Attach to an existing Node HTTP server instead of creating one; `listen()` is then the caller's job. */
  server?: HttpServer;
  /** Environment to read configuration from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Library use: decide who a request or socket is (e.g. from your session cookie).
   * Tried before the configured methods; return null when you do not know the caller.
   */
  authenticate?: AuthenticateFn;
  /** Where the JSON log lines go (default: standard output). */
  logStream?: { write(line: string): void };
  /**
   * Library use: a custom bus backend (instead of BUS_URL) and/or your own
   * serializer (instead of BUS_SERIALIZER). Every instance must use the same.
   */
  /**
   * The bus's own transport or serializer, and its driver's connection options (override the configuration's
   * `redisOptions` / `natsConnectionOptions` / `amqpConnectionOptions`).
   */
  bus?: {
    transport?: BusTransport;
    serializer?: Serializer;
    redisOptions?: Record<string, unknown>;
    natsConnectionOptions?: Record<string, unknown>;
    amqpConnectionOptions?: Record<string, unknown>;
  };
  /** Where long work at start (application migrations, the demo's seed) reports progress; the CLI draws bars. */
  progress?: ProgressFactory;
}

export interface SynclineServer {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly storage: Storage;
  /** The Socket.IO server (namespaces `/sync` and `/sendActions`). */
  readonly io: SocketServer;
  /** The event bus to the other instances (`bus.ready`, `bus.state`, `bus.stats()`). */
  readonly bus: EventBus;
  /** Starts listening on config.host:config.port; resolves with the address. */
  listen(): Promise<string>;
  /** Stops accepting requests, lets in-flight ones finish, closes storage. */
  close(): Promise<void>;
}

/** Query parameters that may carry credentials (`?token=`, `?access_token=`, `?apiKey=`, ...). */
const SECRET_PARAM = /token|key|secret|password|passwd|auth|jwt|session|signature/i;

/** Request lines in logs: as Fastify logs them, with credential-like query values replaced. */
function logRequest(req: { method: string; url: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  const q = req.url.indexOf('?');
  let url = req.url;
  if (q >= 0) {
    const params = new URLSearchParams(url.slice(q + 1));
    for (const key of [...params.keys()]) if (SECRET_PARAM.test(key)) params.set(key, '[Redacted]');
    url = `${url.slice(0, q)}?${params.toString()}`;
  }
  return { method: req.method, url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

export async function createServer(options: CreateServerOptions = {}): Promise<SynclineServer> {
  const { storage: givenStorage, server: httpServer, env, authenticate, logStream, bus: busOptions, progress, ...input } = options;
  const config = loadConfig(input, env);
  const storage = givenStorage ?? (await createStorage(config));
  let access: Access;
  /** Lines for the log once it exists: the migrations applied, what the seed did. */
  const startLog: string[] = [];
  try {
    await storage.migrate(
      appMigrationStep(config.migrationsDir, progress, (names) => {
        for (const name of names) startLog.push(`migration ${name} applied`);
      }),
    );
    // The demo fills its tables when they are empty (its seed checks).
    if (config.demo && config.seedsDir) {
      await runSeeds(storage.appSql(), config.seedsDir, { ...(progress ? { progress } : {}), log: (m) => startLog.push(m) });
    }
    access = new Access(config, storage, authenticate);
    if (access.open && config.nodeEnv === 'production' && !config.allowAnonymous) {
      throw new SynclineError(
        'INVALID_CONFIG',
        'NODE_ENV=production with no authentication configured: set AUTH_TABLE/AUTH_COLUMN, JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL (or ALLOW_ANONYMOUS=true to serve everyone).',
      );
    }
  } catch (err) {
    if (!givenStorage) await storage.close().catch(() => {});
    throw err;
  }
  const driverOptions = (key: 'redisOptions' | 'natsConnectionOptions' | 'amqpConnectionOptions') => {
    const value = busOptions?.[key] ?? config[key];
    return value ? { [key]: value } : {};
  };
  // The bus must be reachable at start: a wrong BUS_URL fails here, not silently later.
  const bus = createBus({
    ...(config.busUrl ? { url: config.busUrl } : {}),
    ...(busOptions?.transport ? { transport: busOptions.transport } : {}),
    name: config.busName,
    serializer: busOptions?.serializer ?? config.busSerializer,
    ...driverOptions('redisOptions'),
    ...driverOptions('natsConnectionOptions'),
    ...driverOptions('amqpConnectionOptions'),
  });
  try {
    await bus.ready;
  } catch (err) {
    if (!givenStorage) await storage.close().catch(() => {});
    throw new SynclineError('INVALID_CONFIG', `The event bus (${bus.kind}) cannot be reached: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  /** Several instances share this bus: change batches travel over it (the in-process bus joins only this process). */
  const shared = bus.kind !== 'in-process';
  /** The admin API's counters: each write path reports its results, the namespaces their deliveries. */
  const metrics = new AdminMetrics({ instanceId: bus.instanceId, adapter: storage.adapter });
  metrics.sources.bus = () => {
    const b = bus.stats();
    return { kind: bus.kind, name: bus.name, state: bus.state, shared, published: b.published, received: b.received, dropped: b.dropped };
  };

  /**
   * Node's connection timeouts (slow headers, stalled bodies, idle keep-alive, silent sockets).
   * The expiry check runs on an interval: a fraction of the shortest timeout, so a connection is
   * closed soon after its deadline, not up to Node's default 30 s later.
   */
  const timeouts = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(
      50,
      Math.min(1000, Math.floor(Math.min(config.headersTimeoutMs, config.requestTimeoutMs || Number.POSITIVE_INFINITY) / 4)),
    ),
  };
  if (config.useSsl && httpServer) {
    throw new SynclineError('INVALID_CONFIG', 'USE_SSL cannot be combined with an existing server: terminate TLS on that server.');
  }
  const { selfSigned, ...tls } = config.useSsl ? await loadTls(config) : { selfSigned: undefined };

  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      serializers: { req: logRequest },
      ...(logStream ? { stream: logStream } : {}),
    },
    logController: new LogController({ disableRequestLogging: !config.logRequests }),
    bodyLimit: config.bodyLimit,
    // Fastify sets these on the server it creates (an embedding application's own server keeps its settings).
    keepAliveTimeout: config.keepAliveTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.socketTimeoutMs,
    // Errors the router raises before any route (a path that is not UTF-8) get the registry's shape too.
    frameworkErrors: (err, req, reply) => {
      const e = toSynclineError(err);
      if (e.status >= 500) req.log.error({ err }, e.message);
      (reply as FastifyReply).status(e.status).send(e.toJSON());
    },
    ...(config.useSsl ? { https: { ...tls, ...timeouts } } : { http: timeouts }),
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
  // The one module that decides visibility: read/write rules, and hidden fields (FILTERS, rules' `hidden`, server metadata).
  const policy = new Policy(mergeRules(config.rules, config.tableAuthColumnRouting), access.open, config.filters);
  const filters = policy.columns;
  // Transports read through the public view; the feed reads raw changes (routing needs every column and old rows).
  /** Set once the feed exists: operations flagged `sync: false` are announced to it before they apply. */
  let optOut: (ops: OptOutOp[]) => Promise<void> = async () => {};
  const pub = publicStorage(
    withOptOut(storage, (ids) => optOut(ids)),
    filters,
  );
  if (access.open) {
    app.log.warn(
      'No authentication configured: every caller is anonymous and may read and write everything. Configure AUTH_TABLE/AUTH_COLUMN or a JWT key before exposing this server.',
    );
  }
  if (selfSigned) {
    app.log.warn(
      `USE_SSL without TLS_CERT_FILE and TLS_KEY_FILE: serving a self-signed certificate for localhost (${selfSigned}). Browsers and clients will not trust it; set TLS_CERT_FILE and TLS_KEY_FILE to your certificate and key.`,
    );
  }
  if (startLog.length > 0) app.log.info({ applied: startLog }, 'application migrations and seeds');
  // First of the hooks: a response sent before its request body arrived waits for the body (bounded).
  registerBodyDrain(app, config.bodyDrainLimit);
  registerHttpAuth(app, access);
  // Before the routes: the plugin limits the routes registered after it.
  await registerRestRateLimit(app, config);
  registerRoutes(
    app,
    recordingStorage(pub, metrics, 'rest'),
    config,
    policy,
    (query, who) => visibleChanges(storage, filters, policy, query, who),
    () => {
      const b = bus.stats();
      // `feed` is assigned below, before the server listens.
      const f = feed.feed.stats;
      return {
        kind: bus.kind,
        name: bus.name,
        state: bus.state,
        shared,
        stats: { published: b.published, received: b.received, dropped: b.dropped, ...f },
      };
    },
  );
  // The default namespace is created after the HTTP app is ready; /publish reaches it through this binding.
  let esink: EsinkNamespace | undefined;
  registerPublishRoute(app, config, (event) => {
    if (!esink) throw new SynclineError('INTERNAL', 'The server is still starting.');
    esink.publish(event);
  });
  await registerStaticRoutes(app, config);
  registerAdminRoutes(app, storage, metrics, prometheusMetrics(metrics));
  await app.ready();
  const io = createSocketServer(app.server, config);
  const feed = new SharedFeed(storage, (err) => app.log.warn({ err }, 'change feed read failed; retrying'));
  optOut = (ids) => feed.feed.optOut(ids);
  if (shared) {
    feed.feed.useBus({ bus, graceMs: config.busGraceMs });
    storage.pollWhen?.(() => bus.state === 'up');
  }
  bus.onStateChange((state, err) => {
    if (state === 'down') app.log.warn({ err, bus: bus.kind }, 'event bus down: reading the change log directly until it is back');
    else if (state === 'up') app.log.info({ bus: bus.kind }, 'event bus up');
  });
  // One limiter for every namespace, so a user's sockets and events count together.
  const limits = socketLimits(config);
  metrics.sources.position = () => feed.current;
  const deps = {
    storage: recordingStorage(pub, metrics, 'sync'),
    raw: storage,
    filters,
    config,
    log: app.log,
    feed,
    access,
    expiry: new SocketExpiry(access, { graceMs: config.reauthGraceMs, log: app.log }),
    policy,
    limits,
    bus,
    metrics,
  };
  for (const name of ['/sync', '/sendActions']) io.of(name).use(socketAuth(access)).use(limits.middleware);
  // The default namespace authenticates after connecting (esink sends an `error` event): counted per IP
  // until then, and per user once identified.
  io.of('/').use(limits.middleware);
  const stopSync = await registerSyncNamespace(io, deps);
  const stopActions = await registerSendActions(io, deps);
  esink = await registerEsinkNamespace(io, deps);
  const stopEsink = esink.stop;
  await feed.feed.start();
  metrics.attach(io);
  metrics.start();

  let closed = false;
  return {
    config,
    app,
    storage,
    io,
    bus,
    async listen() {
      return app.listen({ port: config.port, host: config.host });
    },
    async close() {
      if (closed) return;
      closed = true;
      // Open actions roll back, subscribers disconnect, then HTTP stops.
      metrics.close();
      await stopActions();
      await stopSync();
      await stopEsink();
      await feed.feed.stop();
      await closeSocketServer(io);
      await app.close();
      await bus.close();
      if (!givenStorage) await storage.close();
    },
  };
}

/** Announces the ids of operations flagged `sync: false` before they are applied (ChangeFeed.optOut). */
function withOptOut(storage: Storage, optOut: (ops: OptOutOp[]) => Promise<void>): Storage {
  const applyOperations: Storage['applyOperations'] = async (caller, operations, authorize) => {
    const { clientId } = asCaller(caller);
    const ops: OptOutOp[] = [];
    for (const op of operations) {
      const o = op as { id?: unknown; sync?: unknown; clientId?: unknown } | null;
      if (o && typeof o === 'object' && o.sync === false && typeof o.id === 'string') {
        // The change log records the operation's own clientId when it names one (as planOperations does).
        ops.push({ clientId: typeof o.clientId === 'string' ? o.clientId : clientId, opId: o.id });
      }
    }
    if (ops.length > 0) await optOut(ops);
    return storage.applyOperations(caller, operations, authorize);
  };
  return storageView(storage, { applyOperations });
}
