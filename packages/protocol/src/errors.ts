/**
 * The one error registry. Every error Syncline reports has a stable code from
 * here, an HTTP status, and a default message that says what to do. Wire shape:
 * `{error, message, code, details?}` (see `SynclineError.toJSON`).
 * README's error table is checked against this registry by a test.
 */
export const ErrorCodes = {
  BAD_REQUEST: { status: 400, error: 'Bad request', message: 'The request is malformed; check it against the API reference.' },
  INVALID_JSON: {
    status: 400,
    error: 'Invalid JSON',
    message: 'The request body is not valid JSON; send a JSON document with Content-Type: application/json.',
  },
  VALIDATION_FAILED: { status: 400, error: 'Validation failed', message: 'A field has the wrong type or is missing; see details.path.' },
  INVALID_COLLECTION: { status: 400, error: 'Invalid collection name', message: 'Collection names must match [A-Za-z0-9_-]{1,64}.' },
  INVALID_DOCUMENT_ID: {
    status: 400,
    error: 'Invalid document id',
    message: 'Document ids must be non-empty strings of at most 256 characters.',
  },
  INVALID_TEXT: {
    status: 400,
    error: 'Invalid text',
    message:
      'A string (or key) contains U+0000 (NUL) or an unpaired UTF-16 surrogate, which the database cannot store; remove it (see details.path) and send valid Unicode text.',
  },
  FORBIDDEN_KEY: {
    status: 400,
    error: 'Forbidden key',
    message: 'Keys named __proto__ (or constructor.prototype) are not allowed in JSON bodies.',
  },
  UNKNOWN_OPERATOR: {
    status: 400,
    error: 'Unknown filter operator',
    message: 'Filters support $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or.',
  },
  INVALID_FILTER: { status: 400, error: 'Invalid filter', message: 'The filter is not well formed; see details.path.' },
  INVALID_CURSOR: {
    status: 400,
    error: 'Invalid cursor',
    message: 'The cursor is not one this server returned for the same query; restart paging without it.',
  },
  HIDDEN_FIELD: {
    status: 400,
    error: 'Hidden field',
    message:
      "This field never leaves the server (a rule's hidden fields, FILTERS, or server metadata such as _hlc): it cannot be filtered, sorted or paged on, nor written without a writeHidden rule; see details.path.",
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, error: 'Unsupported media type', message: 'Send request bodies as application/json.' },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    error: 'Payload too large',
    message: 'The request body exceeds the configured limit (SYNCLINE_BODY_LIMIT); split it into smaller requests.',
  },
  TOO_MANY_OPERATIONS: {
    status: 413,
    error: 'Too many operations',
    message: 'A request may carry at most SYNCLINE_MAX_OPERATIONS operations; split the batch.',
  },
  UNKNOWN_COLUMN: {
    status: 400,
    error: 'Unknown column',
    message: 'This collection is a SQL table and has no such column; write only its columns (see details.column).',
  },
  CONSTRAINT_VIOLATION: {
    status: 409,
    error: 'Constraint violation',
    message:
      'The write breaks a constraint of the table (foreign key, unique, not null or check; see details.constraint); nothing was written.',
  },
  UNAUTHORIZED: {
    status: 401,
    error: 'Unauthorized',
    message: 'Missing or invalid credentials; send a valid token.',
  },
  TOKEN_EXPIRED: {
    status: 401,
    error: 'Token expired',
    message:
      'The token expired: what it allowed has ended. Get a new token and send it (REST: the next request; a socket: the `auth` event, or reconnect).',
  },
  FORBIDDEN: { status: 403, error: 'Forbidden', message: 'These credentials do not allow this.' },
  PUBLISH_DISABLED: {
    status: 403,
    error: 'Publishing disabled',
    message: 'SECURITY_TOKEN is not configured on the server, so POST /publish is disabled.',
  },
  RATE_LIMITED: {
    status: 429,
    error: 'Rate limited',
    message: 'Too many requests or events from this user or address; slow down and retry after the time in details.retryAfterMs.',
  },
  TOO_MANY_CONNECTIONS: {
    status: 429,
    error: 'Too many connections',
    message: 'This user (or address) holds the maximum number of socket connections; close some first.',
  },
  NOT_FOUND: { status: 404, error: 'Not found', message: 'No such endpoint; see the API reference in README.md.' },
  DOCUMENT_NOT_FOUND: { status: 404, error: 'Document not found', message: 'No live document with this id in this collection.' },
  DOCUMENT_EXISTS: {
    status: 409,
    error: 'Document exists',
    message: 'A document with this id already exists; use update, patch or upsert, or a new id.',
  },
  CONFLICT: {
    status: 409,
    error: 'Conflict',
    message: 'The operation is concurrent with the server version; resolve against serverDocument and retry with a new operation id.',
  },
  STALE_OPERATION: {
    status: 409,
    error: 'Stale operation',
    message: 'The operation happened before the server version; refresh from serverDocument.',
  },
  VERSION_MISMATCH: {
    status: 409,
    error: 'Version mismatch',
    message: 'baseVersion does not match the server version; refresh from serverDocument and retry with a new operation id.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    error: 'Idempotency key reused',
    message:
      'This operation id was already used by you with a different body; nothing was applied. Retry with the exact same operation, or use a new id for a new operation.',
  },
  CLIENT_ID_TAKEN: {
    status: 403,
    error: 'Client id taken',
    message: 'This clientId belongs to another user (the first authenticated user that used it owns it); generate a clientId of your own.',
  },
  RECORD_BUSY: {
    status: 409,
    error: 'Record busy',
    message: 'Another open action holds this record until its FIN or rollback; retry later.',
  },
  TOO_MANY_OPEN_ACTIONS: {
    status: 429,
    error: 'Too many open actions',
    message: 'Too many ACKed actions await their FIN; send clientFin for earlier ones first.',
  },
  TOO_MANY_SUBSCRIPTIONS: {
    status: 429,
    error: 'Too many subscriptions',
    message: 'This socket holds the maximum number of subscriptions; unsubscribe some first.',
  },
  SUBSCRIPTION_NOT_FOUND: { status: 404, error: 'Subscription not found', message: 'No subscription with this id on this socket.' },
  SLOW_CONSUMER: {
    status: 429,
    error: 'Slow consumer',
    message: 'Changes arrived faster than this socket read them; the subscription ended: subscribe again with since = your last position.',
  },
  UNKNOWN_EVENT: {
    status: 400,
    error: 'Unknown event',
    message: 'This namespace does not handle that event; see the socket protocol in README.md.',
  },
  RESYNC_REQUIRED: {
    status: 410,
    error: 'Resync required',
    message: 'Changes before this position were compacted; reload documents with a query, then pull from the position it returns.',
  },
  STORAGE_UNAVAILABLE: { status: 503, error: 'Storage unavailable', message: 'The database cannot be reached; retry later.' },
  BUS_UNAVAILABLE: {
    status: 503,
    error: 'Event bus unavailable',
    message:
      'The event bus (BUS_URL) cannot be reached; the message was dropped. Writes still succeed and other instances catch up from the change log; check the bus service.',
  },
  BUS_MESSAGE_TOO_LARGE: {
    status: 413,
    error: 'Bus message too large',
    message:
      'A bus message exceeds the bus limit (or the backend limit, e.g. NATS max_payload); send positions instead and let instances read the change log.',
  },
  INVALID_CONFIG: { status: 500, error: 'Invalid configuration', message: 'A configuration value is invalid; see details.' },
  MIGRATION_FAILED: {
    status: 500,
    error: 'Migration failed',
    message:
      'An application migration (SYNCLINE_MIGRATIONS_DIR) failed and was not recorded (on PostgreSQL none of it was applied); fix the file named in details.file and start again.',
  },
  SEED_FAILED: {
    status: 500,
    error: 'Seed failed',
    message: 'A seed file (SYNCLINE_SEEDS_DIR) failed; see details.file and the cause, fix it and run `syncline seed` again.',
  },
  INTERNAL: { status: 500, error: 'Internal server error', message: 'An unexpected error occurred; it was logged on the server.' },
} as const satisfies Record<string, { status: number; error: string; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorBody {
  error: string;
  message: string;
  code: ErrorCode;
  details?: Record<string, unknown>;
}

export class SynclineError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code].message, options);
    this.name = 'SynclineError';
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.details = details;
  }

  /** Only the registry title, the message and explicit details leave the server: never a stack or cause. */
  toJSON(): ErrorBody {
    const body: ErrorBody = { error: ErrorCodes[this.code].error, message: this.message, code: this.code };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

export function isSynclineError(e: unknown): e is SynclineError {
  return e instanceof SynclineError;
}

/** The `{code, message}` pair carried inside per-operation results. */
export interface ErrorRef {
  code: ErrorCode;
  message: string;
  path?: string;
}

export function errorRef(code: ErrorCode, message?: string, path?: string): ErrorRef {
  const ref: ErrorRef = { code, message: message ?? ErrorCodes[code].message };
  if (path !== undefined) ref.path = path;
  return ref;
}
