/**
 * Every server option, declared once: its schema, default, environment
 * variable(s) and description. `loadConfig`, the CLI flags and README's
 * configuration table all derive from this list.
 */
import { z } from 'zod';

export interface OptionSpec<T extends z.ZodType = z.ZodType> {
  /** Environment variables, first match wins (later names are aliases). */
  env: string[];
  schema: T;
  description: string;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const options = {
  port: { env: ['PORT'], schema: int(0, 65535).default(3000), description: 'HTTP port.' },
  host: { env: ['HOST'], schema: z.string().min(1).default('localhost'), description: 'Interface to bind (0.0.0.0 for all).' },
  adapter: {
    env: ['ADAPTER'],
    schema: z.enum(['pglite', 'postgres']).optional(),
    description: 'Storage: `pglite` (embedded, default without a database URL) or `postgres` (default with one).',
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
  poolSize: { env: ['DATABASE_POOL_SIZE'], schema: int(1, 1000).default(10), description: 'PostgreSQL pool size.' },
  bodyLimit: {
    env: ['SYNCLINE_BODY_LIMIT'],
    schema: int(1024, 1024 * 1024 * 1024).default(1024 * 1024),
    description: 'Largest request body in bytes (413 above).',
  },
  maxOperations: {
    env: ['SYNCLINE_MAX_OPERATIONS'],
    schema: int(1, 100_000).default(1000),
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
    description: 'Serve HTTPS and WSS only (needs TLS_CERT_FILE and TLS_KEY_FILE); plain HTTP is refused.',
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
    schema: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
    description: 'Largest Socket.IO message (maxHttpBufferSize); larger ones close that connection.',
  },
  socketBufferLimit: {
    env: ['SYNCLINE_SOCKET_BUFFER_LIMIT'],
    schema: int(1, 1_000_000).default(1000),
    description:
      'Frames waiting unsent for one socket (or 10× as many changes buffered while it catches up) before its subscriptions end with SLOW_CONSUMER.',
  },
  maxSubscriptionsPerSocket: {
    env: ['SYNCLINE_MAX_SUBSCRIPTIONS_PER_SOCKET'],
    schema: int(1, 100_000).default(100),
    description: 'Subscriptions one socket may hold on `/sync`.',
  },
  finTimeoutMs: {
    env: ['FIN_TIMEOUT_MS'],
    schema: int(10, 600_000).default(5000),
    description: '`/sendActions`: how long an ACKed action waits for its `clientFin` before it is rolled back.',
  },
  maxOpenActionsPerSocket: {
    env: ['SYNCLINE_MAX_OPEN_ACTIONS_PER_SOCKET'],
    schema: int(1, 10_000).default(16),
    description: '`/sendActions`: ACKed actions one socket may hold open awaiting FIN.',
  },
  maxOpenActions: {
    env: ['SYNCLINE_MAX_OPEN_ACTIONS'],
    schema: int(1, 100_000).default(64),
    description:
      '`/sendActions`: ACKed actions held open server-wide (on PostgreSQL each holds a connection of a separate pool of this size, so REST and `/sync` never wait for them).',
  },
  lockTimeoutMs: {
    env: ['SYNCLINE_LOCK_TIMEOUT_MS'],
    schema: int(10, 600_000).default(1000),
    description:
      'PostgreSQL: longest a REST or `/sync` write waits for a row lock; a record held longer (by an open `/sendActions` action) is answered RECORD_BUSY.',
  },
  logLevel: {
    env: ['LOG_LEVEL'],
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    description: 'pino log level.',
  },
  logRequests: {
    env: ['SYNCLINE_LOG_REQUESTS'],
    schema: z.union([z.boolean(), z.stringbool()]).default(false),
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
