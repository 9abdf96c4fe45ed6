/**
 * Every server option, declared once: its schema, default, environment
 * variable(s) and description. `loadConfig`, the CLI flags and README's
 * configuration table all derive from this list.
 */
import { DEFAULT_SERVER_LIMITS } from '@syncline/protocol';
import JSON5 from 'json5';
import { z } from 'zod';
import { RulesSchema } from '../auth/policy.js';

export interface OptionSpec<T extends z.ZodType = z.ZodType> {
  /** Environment variables, first match wins (later names are aliases). */
  env: string[];
  schema: T;
  description: string;
}

/** A whole number in [min, max]; every failure says the same plain sentence (not zod's "received NaN"). */
const int = (min: number, max: number) => {
  const error = `expected a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const bool = z.union([z.boolean(), z.stringbool()], { error: 'expected true or false (also 1/0, yes/no, on/off)' });
const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'SQL identifier');
/** A comma-separated list (environment) or an array (config file); blanks and quotes trimmed. */
const list = z
  .union([z.string(), z.array(z.string())])
  .default([])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((x) => x.trim().replace(/^['"]|['"]$/g, '')).filter((x) => x.length > 0));
/**
 * TABLE_AUTH_COLUMN_ROUTING: text (environment) or an object (config file). The text is read as JSON5,
 * because esink's README writes it with comments, single quotes and trailing commas.
 */
const ROUTING_SHAPE = '{"table": "column" | ["column", ...] | "*"}';
const routing = z.unknown().transform((value, ctx) => {
  if (value === undefined) return {};
  if (typeof value === 'string') {
    try {
      value = JSON5.parse(value) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not valid JSON (${(err as Error).message}); expected ${ROUTING_SHAPE}` });
      return z.NEVER;
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: `expected an object of tables, ${ROUTING_SHAPE}; got ${describe(value)}` });
    return z.NEVER;
  }
  const out: Record<string, '*' | string[]> = {};
  for (const [table, v] of Object.entries(value)) {
    const columns = typeof v === 'string' ? [v] : v;
    if (v === '*') out[table] = '*';
    else if (Array.isArray(columns) && columns.length > 0 && columns.every((c) => typeof c === 'string' && c.trim() !== '')) {
      out[table] = columns as string[];
    } else {
      ctx.addIssue({
        code: 'custom',
        message: `table "${table}": expected a column name, a list of column names or "*"; got ${describe(v)}`,
      });
    }
  }
  return out;
});

function describe(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `the list ${JSON.stringify(v)}`;
  return v === null ? 'null' : `${typeof v === 'object' ? 'an object' : `the ${typeof v}`} ${JSON.stringify(v)}`;
}

/** A driver's options: a JSON object (environment) or an object (config file, library use). */
const jsonObject = z.unknown().transform((value, ctx) => {
  if (value === undefined) return undefined;
  let v: unknown = value;
  if (typeof value === 'string') {
    try {
      v = JSON.parse(value) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not valid JSON (${(err as Error).message}); expected an object of options` });
      return z.NEVER;
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object of options' });
    return z.NEVER;
  }
  return v as Record<string, unknown>;
});

export const options = {
  configFile: {
    env: ['SYNCLINE_CONFIG'],
    schema: z.string().min(1).default('syncline.config.json'),
    description:
      'JSON file of options (keys: option names as in the Flag column, camelCase, or the variable names); read if it exists. Environment variables override it.',
  },
  port: { env: ['PORT'], schema: int(0, 65535).default(3000), description: 'HTTP port.' },
  host: { env: ['HOST'], schema: z.string().min(1).default('localhost'), description: 'Interface to bind (0.0.0.0 for all).' },
  adapter: {
    env: ['ADAPTER'],
    schema: z.enum(['pglite', 'postgres', 'mysql']).optional(),
    description:
      'Storage: `pglite` (embedded, the default), `postgres` (default with a database URL) or `mysql` (default with MYSQL_DATABASE).',
  },
  databaseUrl: {
    env: ['DATABASE_URL', 'POSTGRES_DATABASE_URL', 'POSTGRES_CONNECTION_STRING'],
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
      .optional(),
    description: 'PostgreSQL connection URL; selects the PostgreSQL adapter.',
  },
  dataDir: {
    env: ['SYNCLINE_DATA_DIR'],
    schema: z.string().min(1).default('./.syncline-data'),
    description: 'Folder of the embedded PGlite database (`memory://` keeps it in memory).',
  },
  schema: {
    env: ['SYNCLINE_SCHEMA'],
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'lower-case SQL identifier')
      .default('syncline'),
    description: "SQL schema holding Syncline's tables.",
  },
  tableNames: {
    env: ['TABLE_NAMES'],
    schema: list,
    description:
      'Existing SQL tables to sync as collections (comma-separated, as in esink): Syncline installs capture triggers on them, and removes them from tables no longer listed.',
  },
  tableSchema: {
    env: ['SYNCLINE_TABLE_SCHEMA'],
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'SQL identifier')
      .default('public'),
    description: 'PostgreSQL schema of the TABLE_NAMES tables (MySQL: they live in MYSQL_DATABASE).',
  },
  migrationsDir: {
    env: ['SYNCLINE_MIGRATIONS_DIR'],
    schema: z.string().min(1).optional(),
    description:
      "The application's SQL migrations: files `NNN_name.sql` applied in name order, each once, by `syncline migrate` and at `serve` start (before TABLE_NAMES capture is installed); on MySQL `NNN_name.mysql.sql` replaces `NNN_name.sql`.",
  },
  seedsDir: {
    env: ['SYNCLINE_SEEDS_DIR'],
    schema: z.string().min(1).optional(),
    description:
      'Seed files run by `syncline seed` in name order: `.sql` scripts, or `.js`/`.mjs` modules exporting `async (ctx) => void` (README, "Migrations and seeds").',
  },
  demo: {
    env: ['SYNCLINE_DEMO'],
    schema: bool.default(false),
    description:
      "The market demo (`npm start`): the demo's migrations and seeds (apps/demo), tables `category` and `product` added to TABLE_NAMES, seeded when empty, its page served at `/`.",
  },
  staticDir: {
    env: ['SYNCLINE_STATIC_DIR'],
    schema: z.string().min(1).optional(),
    description:
      'A built web app served without a token: its `index.html` at `/` to browsers (other callers keep the JSON index) and its files. `--demo` serves apps/demo/dist.',
  },
  capturePollMs: {
    env: ['SYNCLINE_CAPTURE_POLL_MS'],
    schema: int(1, 60_000).default(10),
    description:
      'PostgreSQL: how often the server looks for committed SQL transactions of other programs, which leave their positions to it (so their commits never wait for each other); bounds their extra delivery delay. After a second without any, it looks every 50 ms until it finds one.',
  },
  mysqlDatabase: {
    env: ['MYSQL_DATABASE'],
    schema: z.string().min(1).optional(),
    description: 'MySQL/MariaDB database; selects the MySQL adapter (through `mysql2`).',
  },
  mysqlHost: { env: ['MYSQL_HOST'], schema: z.string().min(1).default('127.0.0.1'), description: 'MySQL host.' },
  mysqlPort: { env: ['MYSQL_PORT'], schema: int(1, 65535).default(3306), description: 'MySQL port.' },
  mysqlUsername: { env: ['MYSQL_USERNAME', 'MYSQL_USER'], schema: z.string().min(1).default('root'), description: 'MySQL user.' },
  mysqlPassword: { env: ['MYSQL_PASSWORD'], schema: z.string().default(''), description: 'MySQL password.' },
  mysqlTableTarget: {
    env: ['MYSQL_TABLE_TARGET'],
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'SQL identifier')
      .optional(),
    description:
      'MySQL: the table capture triggers append to (default `<SYNCLINE_SCHEMA>_pubsub`, so each Syncline schema has its own); the server polls it, moves rows into the ordered change log and trims them.',
  },
  mysqlPollIntervalMs: {
    env: ['MYSQL_POLL_INTERVAL_MS'],
    schema: int(10, 60_000).default(250),
    description:
      'MySQL: how often the change table is polled (250 ms = 4 times a second, as esink); the server also reads it right after its own writes.',
  },
  poolSize: { env: ['DATABASE_POOL_SIZE'], schema: int(1, 1000).default(10), description: 'PostgreSQL pool size.' },
  bodyLimit: {
    env: ['SYNCLINE_BODY_LIMIT'],
    schema: int(1024, 1024 * 1024 * 1024).default(DEFAULT_SERVER_LIMITS.bodyLimit),
    description: 'Largest request body in bytes (413 above).',
  },
  bodyDrainLimit: {
    env: ['SYNCLINE_BODY_DRAIN_LIMIT'],
    schema: int(0, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    description:
      'A response sent before its request body arrived (a 413, 401, 429 ...) waits for the rest of the body and discards up to this many bytes, so the client reads the response instead of a connection reset; past it the connection is closed.',
  },
  headersTimeoutMs: {
    env: ['SYNCLINE_HEADERS_TIMEOUT_MS'],
    schema: int(100, 3_600_000).default(5_000),
    description:
      'A connection must send complete request headers within this time (from connecting, or from its previous request); otherwise it gets 408 and is closed (slow-header clients).',
  },
  requestTimeoutMs: {
    env: ['SYNCLINE_REQUEST_TIMEOUT_MS'],
    schema: int(0, 3_600_000).default(60_000),
    description:
      'A whole request (headers and body) must arrive within this time; otherwise 408 and the connection is closed (stalled uploads). 0: no limit. At least SYNCLINE_HEADERS_TIMEOUT_MS.',
  },
  keepAliveTimeoutMs: {
    env: ['SYNCLINE_KEEP_ALIVE_TIMEOUT_MS'],
    schema: int(100, 3_600_000).default(72_000),
    description:
      'An idle keep-alive connection is closed after this time. Keep it longer than the idle timeout of a load balancer in front, so that the balancer, not the server, closes idle connections.',
  },
  socketTimeoutMs: {
    env: ['SYNCLINE_SOCKET_TIMEOUT_MS'],
    schema: int(0, 3_600_000).default(120_000),
    description:
      'An HTTP connection on which nothing is sent or received for this long is closed (half-open connections). 0: never. WebSocket connections have their own heartbeat. These connection timeouts apply to the server Syncline creates, not to one an embedding application passes in.',
  },
  maxOperations: {
    env: ['SYNCLINE_MAX_OPERATIONS'],
    schema: int(1, 100_000).default(DEFAULT_SERVER_LIMITS.maxOperations),
    description: 'Most operations in one push (413 above).',
  },
  defaultChangesLimit: {
    env: ['SYNCLINE_CHANGES_LIMIT'],
    schema: int(1, 100_000).default(100),
    description: '`limit` of `POST /changes` when none is given.',
  },
  maxChangesLimit: {
    env: ['SYNCLINE_MAX_CHANGES_LIMIT'],
    schema: int(1, 100_000).default(1000),
    description: 'Cap on `limit` of `POST /changes`.',
  },
  defaultQueryLimit: {
    env: ['SYNCLINE_QUERY_LIMIT'],
    schema: int(1, 100_000).default(100),
    description: '`limit` of a document query when none is given.',
  },
  maxQueryLimit: {
    env: ['SYNCLINE_MAX_QUERY_LIMIT'],
    schema: int(1, 100_000).default(1000),
    description: 'Cap on `limit` of a document query.',
  },
  statementTimeoutMs: {
    env: ['SYNCLINE_STATEMENT_TIMEOUT_MS'],
    schema: int(100, 3_600_000).default(30_000),
    description: 'Longest a single SQL statement may run (PostgreSQL adapter).',
  },
  useSsl: {
    env: ['USE_SSL'],
    // As in esink: setting it requires TLS (any value but '', 'false', '0'); plain HTTP is then refused.
    schema: z
      .union([z.boolean(), z.string()])
      .default(false)
      .transform((v) => (typeof v === 'boolean' ? v : !['', 'false', '0', 'no', 'off'].includes(v.trim().toLowerCase()))),
    description:
      "Serve HTTPS and WSS only; plain HTTP is refused. Any value but '', false, 0, no, off turns it on (as in esink). Uses TLS_CERT_FILE and TLS_KEY_FILE; with neither, a self-signed certificate for localhost is generated into `<SYNCLINE_DATA_DIR>/tls` (kept in memory with `memory://`), with a warning.",
  },
  tlsCertFile: { env: ['TLS_CERT_FILE'], schema: z.string().min(1).optional(), description: 'PEM certificate (chain) for USE_SSL.' },
  tlsKeyFile: { env: ['TLS_KEY_FILE'], schema: z.string().min(1).optional(), description: 'PEM private key for USE_SSL.' },
  corsOrigin: {
    env: ['SYNCLINE_CORS_ORIGIN'],
    schema: z.string().min(1).default('*'),
    description: 'Origins browsers may call the API from: `*`, a comma-separated list, or `false` to send no CORS headers.',
  },
  socketMaxMessageBytes: {
    env: ['SYNCLINE_SOCKET_MAX_MESSAGE_BYTES'],
    schema: int(1024, 64 * 1024 * 1024).default(DEFAULT_SERVER_LIMITS.socketMaxMessageBytes),
    description: 'Largest Socket.IO message (maxHttpBufferSize); larger ones close that connection.',
  },
  allowEio3: {
    env: ['SYNCLINE_ALLOW_EIO3'],
    schema: bool.default(true),
    description:
      "Accept Socket.IO v2 clients (Engine.IO 3, e.g. socket.io-client@2.3.0 as the reference sync server's article installs) on every namespace, beside v3/v4 clients. false: v4 protocol only.",
  },
  socketBufferLimit: {
    env: ['SYNCLINE_SOCKET_BUFFER_LIMIT'],
    schema: int(1, 1_000_000).default(1000),
    description:
      'Frames waiting unsent for one socket (or 10× as many changes buffered while it catches up) before its subscriptions end with SLOW_CONSUMER.',
  },
  esinkBufferBytes: {
    env: ['SYNCLINE_ESINK_BUFFER_BYTES'],
    schema: int(64 * 1024, 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    description:
      'Default namespace `/`: bytes of events waiting unsent for one connection before it gets SLOW_CONSUMER and is disconnected (generous: a burst of captured rows is absorbed, a reader that stopped is not kept forever).',
  },
  maxSubscriptionsPerUser: {
    env: ['SYNCLINE_MAX_SUBSCRIPTIONS_PER_USER'],
    schema: int(1, 1_000_000).default(500),
    description: 'Subscriptions one user (or one IP when anonymous) may hold on `/sync`, all sockets together.',
  },
  maxSubscriptionsPerSocket: {
    env: ['SYNCLINE_MAX_SUBSCRIPTIONS_PER_SOCKET'],
    schema: int(1, 100_000).default(100),
    description: 'Subscriptions one socket may hold on `/sync`.',
  },
  actionMode: {
    env: ['SYNCLINE_ACTION_MODE'],
    schema: z.enum(['staged', 'held']).default('staged'),
    description:
      '`/sendActions`: `staged` (every storage) checks a write at ACK and applies it at FIN with the version it was checked on (a change in between rolls the FIN back as a conflict), holding only memory, so a client may hold thousands of ACKed actions; `held` (PostgreSQL only) writes at ACK in a transaction that holds the row locked until FIN, one database connection per open action (its limits then default to 16 per socket and user, 64 in all).',
  },
  finTimeoutMs: {
    env: ['FIN_TIMEOUT_MS'],
    schema: int(10, 3_600_000).default(120_000),
    description:
      "`/sendActions`: how long an ACKed action waits for its `clientFin` before it is rolled back (120 s, as the reference sync server's flow, which FINs after receiving a whole batch's results).",
  },
  maxOpenActionsPerSocket: {
    env: ['SYNCLINE_MAX_OPEN_ACTIONS_PER_SOCKET'],
    schema: int(1, 100_000).default(2000),
    description: '`/sendActions`: ACKed actions one socket may hold open awaiting FIN (held mode: 16 by default).',
  },
  maxOpenActionsPerUser: {
    env: ['SYNCLINE_MAX_OPEN_ACTIONS_PER_USER'],
    schema: int(1, 100_000).default(5000),
    description:
      '`/sendActions`: ACKed actions one user (anonymous: one client id) may hold open awaiting FIN, all its sockets together, unless at least as many stay free after it; never more than its fair share of SYNCLINE_MAX_OPEN_ACTIONS (README, "Limits"). Held mode: 16 by default.',
  },
  maxOpenActions: {
    env: ['SYNCLINE_MAX_OPEN_ACTIONS'],
    schema: int(1, 1_000_000).default(20_000),
    description:
      '`/sendActions`: ACKed actions held open server-wide. Held mode: 64 by default, each holding a connection of a separate pool of this size, so REST and `/sync` never wait for them.',
  },
  maxOpenActionBytes: {
    env: ['SYNCLINE_MAX_OPEN_ACTION_BYTES'],
    schema: int(1024, 16 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
    description: '`/sendActions`: bytes of action data (as JSON) all open actions together may hold on this server.',
  },
  lockTimeoutMs: {
    env: ['SYNCLINE_LOCK_TIMEOUT_MS'],
    schema: int(10, 600_000).default(1000),
    description:
      'PostgreSQL: longest a REST or `/sync` write waits for a row lock; a record held longer (by an open `/sendActions` action) is answered RECORD_BUSY.',
  },
  nodeEnv: {
    env: ['NODE_ENV'],
    schema: z.string().default('development'),
    description: '`production` refuses unsafe settings (the TEST token).',
  },
  authTable: {
    env: ['AUTH_TABLE'],
    schema: sqlName.optional(),
    description: 'Token authentication: the table a token is looked up in (a row with an `id` column is the user).',
  },
  authColumn: {
    env: ['AUTH_COLUMN'],
    schema: sqlName.optional(),
    description: 'Token authentication: the column of AUTH_TABLE holding the token.',
  },
  jwtSecret: {
    env: ['JWT_SECRET'],
    schema: z.string().min(1).optional(),
    description: 'JWT authentication with HS256 and this secret.',
  },
  jwtPublicKey: {
    env: ['JWT_PUBLIC_KEY'],
    schema: z.string().min(1).optional(),
    description: 'JWT authentication with RS256/ES256: a PEM public key (SPKI), or a path to a file holding one.',
  },
  jwksUrl: { env: ['JWKS_URL'], schema: z.url().optional(), description: 'JWT authentication with keys from this JWKS URL.' },
  jwtUserClaim: {
    env: ['JWT_USER_CLAIM'],
    schema: z.string().min(1).default('sub'),
    description: "The JWT claim that is the user's id.",
  },
  jwtIssuer: { env: ['JWT_ISSUER'], schema: z.string().min(1).optional(), description: 'If set, JWTs must carry this `iss`.' },
  jwtAudience: { env: ['JWT_AUDIENCE'], schema: z.string().min(1).optional(), description: 'If set, JWTs must carry this `aud`.' },
  allowTestToken: {
    env: ['ALLOW_TEST_TOKEN'],
    schema: bool.default(false),
    description: "Accept esink's sample token `TEST` (user id -1, sample data). Refused when NODE_ENV=production.",
  },
  allowAnonymous: {
    env: ['ALLOW_ANONYMOUS'],
    schema: bool.default(false),
    description:
      'With no authentication method configured, serve anyway with NODE_ENV=production (otherwise it refuses to start open). Without production, open mode only warns.',
  },
  adminToken: {
    env: ['ADMIN_TOKEN'],
    schema: z.string().min(16, 'at least 16 characters').optional(),
    description: 'Bearer token for the admin endpoints (/stats, /compact) once any authentication is configured.',
  },
  adminClaim: {
    env: ['ADMIN_CLAIM'],
    schema: z.string().min(1).default('admin'),
    description: 'A JWT whose claim of this name is true (or whose `roles` list holds it) may use the admin endpoints too.',
  },
  rateLimitPerMinute: {
    env: ['SYNCLINE_RATE_LIMIT_PER_MINUTE'],
    schema: int(0, 10_000_000).default(6000),
    description: 'REST requests per minute per user (or per IP when anonymous); 0 turns the limit off. Above it: 429 RATE_LIMITED.',
  },
  authFailuresPerMinute: {
    env: ['SYNCLINE_AUTH_FAILURES_PER_MINUTE'],
    schema: int(0, 10_000_000).default(60),
    description:
      'Refused authentications (missing or bad token, any path) per minute per IP before that IP gets 429 RATE_LIMITED for the rest of the minute, even with a good token; 0 turns the limit off.',
  },
  socketEventsPerMinute: {
    env: ['SYNCLINE_SOCKET_EVENTS_PER_MINUTE'],
    schema: int(0, 10_000_000).default(6000),
    description: 'Socket.IO events a user (or an IP when anonymous) may send per minute, all sockets together; 0 turns the limit off.',
  },
  reauthGraceMs: {
    env: ['SYNCLINE_REAUTH_GRACE_MS'],
    schema: int(0, 600_000).default(30_000),
    description:
      'A socket whose token expired (TOKEN_EXPIRED) stays connected this long, receiving nothing and refusing every event but `auth`, so the client can send a new token without reconnecting; then it is disconnected. 0: disconnected at once.',
  },
  maxSocketsPerUser: {
    env: ['SYNCLINE_MAX_SOCKETS_PER_USER'],
    schema: int(1, 100_000).default(50),
    description: 'Socket.IO connections one user (or one IP when anonymous) may hold at once, all namespaces together.',
  },
  rules: {
    env: ['SYNCLINE_RULES'],
    schema: z
      .union([
        z.string().transform((text, ctx) => {
          try {
            return JSON.parse(text) as unknown;
          } catch {
            ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
            return z.NEVER;
          }
        }),
        z.record(z.string(), z.unknown()),
      ])
      .default({})
      .pipe(RulesSchema),
    description:
      'Read/write rules, hidden fields and owner field per collection (JSON; usually `rules` in the config file). See README, "Rules". Deny by default once authentication is configured.',
  },
  tableAuthColumnRouting: {
    env: ['TABLE_AUTH_COLUMN_ROUTING'],
    schema: routing,
    description:
      'Which users receive a table\'s changes on the default namespace (JSON, or JSON5 with comments, single quotes and trailing commas as esink\'s README writes it): `{"table": "column" | ["col1", "col2"] | "*"}`. Unlisted tables are delivered to no one; a listed table missing from TABLE_NAMES is named in a warning at start.',
  },
  filters: {
    env: ['FILTERS'],
    schema: list,
    description: 'Columns removed from every payload on every path (`table.column,...`, as esink).',
  },
  securityToken: {
    env: ['SECURITY_TOKEN'],
    schema: z.string().min(1).optional(),
    description: '`POST /publish` needs this token in its body (unset: the route answers 403).',
  },
  defaultSource: {
    env: ['DEFAULT_SOURCE'],
    schema: z.string().min(1).max(64).default('API'),
    description: '`source` of a published event that names none.',
  },
  busUrl: {
    env: ['BUS_URL'],
    schema: z
      .string()
      .regex(/^(redis|rediss|nats|amqp|amqps|postgres|postgresql):\/\//, 'expected a redis://, nats://, amqp:// or postgres:// URL')
      .optional(),
    description:
      'The event bus joining several server instances: `redis://`, `nats://`, `amqp://` or `postgres://`. None: in-process (one instance).',
  },
  busName: {
    env: ['BUS_NAME'],
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,63}$/, 'expected 1-63 characters of A-Z a-z 0-9 _ . : -')
      .default('syncline'),
    description: 'Redis channel, NATS subject, AMQP exchange or PostgreSQL channel the instances share.',
  },
  busSerializer: {
    env: ['BUS_SERIALIZER'],
    schema: z.enum(['json', 'msgpack']).default('json'),
    description: 'How bus messages are encoded (every instance must agree): `json`, or `msgpack` (Dates and binary survive).',
  },
  redisOptions: {
    env: ['SYNCLINE_BUS_REDIS_OPTIONS'],
    schema: jsonObject,
    description:
      "With a `redis://` bus: ioredis options (TLS, password, sentinels, retry settings), as feathers-sync's `redisOptions` (a JSON object; usually in the config file).",
  },
  natsConnectionOptions: {
    env: ['SYNCLINE_BUS_NATS_OPTIONS'],
    schema: jsonObject,
    description: "With a `nats://` bus: nats.js connect options (tls, user/pass, token, reconnect settings), as feathers-sync's.",
  },
  amqpConnectionOptions: {
    env: ['SYNCLINE_BUS_AMQP_OPTIONS'],
    schema: jsonObject,
    description: "With an `amqp://` bus: amqplib socket options (cert, key, ca, credentials), as feathers-sync's.",
  },
  busGraceMs: {
    env: ['SYNCLINE_BUS_GRACE_MS'],
    schema: int(0, 60_000).default(100),
    description: 'With a bus: how long an instance waits for a committed batch over the bus before reading it from the change log.',
  },
  allowRepublishing: {
    env: ['ALLOW_REPUBLISHING'],
    schema: bool.default(false),
    description: 'Let default-namespace clients emit `publish` themselves (routed and filtered like any change).',
  },
  logLevel: {
    env: ['LOG_LEVEL'],
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    description: 'pino log level.',
  },
  logRequests: {
    env: ['SYNCLINE_LOG_REQUESTS'],
    schema: bool.default(false),
    description: 'Log every HTTP request (off by default: it costs throughput).',
  },
  shutdownTimeoutMs: {
    env: ['SYNCLINE_SHUTDOWN_TIMEOUT_MS'],
    schema: int(0, 600_000).default(10_000),
    description: 'On SIGTERM/SIGINT, how long in-flight requests may finish before exit.',
  },
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof options;
export type Config = Readonly<{ [K in OptionName]: z.output<(typeof options)[K]['schema']> }>;
export type ConfigInput = { [K in OptionName]?: z.input<(typeof options)[K]['schema']> };
