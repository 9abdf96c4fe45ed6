/**
 * How a client talks to the server. Two implementations: `socket` (Socket.IO
 * `/sync`: live subscriptions per collection, push) and `http` (REST polling:
 * `POST /changes` every `syncInterval`, `POST /operations`). Both use REST
 * queries for initial sync pages.
 */
import type { Change, Filter, Operation, PushResponse, QueryResponse } from '@syncline/protocol';

export interface Frame {
  changes: Change[];
  /** Every change with from < position ≤ `position` is in `changes` (for this subscription). */
  from: number;
  position: number;
  /** The subscription's id (on the subscribe's answer). */
  subscriptionId?: string;
}

export interface SubscriptionHandlers {
  changes(frame: Frame): void;
  /** Catch-up done: what follows is live. */
  caughtUp(position: number): void;
  /** The subscription ended (SLOW_CONSUMER: subscribe again; RESYNC_REQUIRED: reload). */
  ended(code: string): void;
}

export interface TransportEvents {
  /** Connected (again): subscriptions must be made again. */
  online(): void;
  offline(reason: string): void;
  /** Refused for good (e.g. UNAUTHORIZED): the client stays offline until resumed. */
  refused(code: string, message: string): void;
}

export interface Transport {
  readonly kind: 'socket' | 'http';
  connect(events: TransportEvents): void;
  disconnect(): void;
  readonly connected: boolean;
  push(clientId: string, operations: Operation[]): Promise<PushResponse>;
  /**
   * Socket only: follow a collection from `since`. The ack's changes go to `handlers.changes` first (synchronously,
   * before any frame behind them), then it resolves with them; or it rejects with a coded error.
   */
  subscribe?(collection: string, since: number, handlers: SubscriptionHandlers, filter?: Filter): Promise<Frame>;
  /** Socket only: ends a subscription (by the id its first frame carried). */
  unsubscribe?(subscriptionId: string): void;
  /** HTTP only: changes after `since` (all collections the caller may read). */
  pull?(since: number, limit: number): Promise<{ changes: Change[]; checkpoint: number; hasMore: boolean }>;
  /** A page of the collection in id order; `filter`: only matching documents (the same filter on every page). */
  query(collection: string, cursor: string | undefined, limit: number, filter?: Filter): Promise<QueryResponse>;
  /**
   * Socket only: the client's latest status for the server's admin API (`clientStatus`). Called on every
   * status change; the transport sends it on connect and when `pending` changes, at most once a second.
   */
  reportStatus?(status: StatusReport): void;
  /**
   * How large one push may be, as the server announced it (the server defaults until it did): the client
   * splits its batches to fit and refuses a single write that cannot fit. Absent: the server defaults.
   */
  pushLimits?(): Promise<PushLimits>;
}

/** What one push may carry. */
export interface PushLimits {
  /** Bytes of the push's JSON `{clientId, operations}` (UTF-8), framing already deducted. */
  maxBytes: number;
  maxOperations: number;
  /** The server setting behind `maxBytes`, named in the error of a write that does not fit. */
  setting: string;
}

/** What a client reports about itself (the `/sync` event `clientStatus`). */
export interface StatusReport {
  clientId: string;
  pending: number;
  position: number;
}

/** A failure with the server's code (or NETWORK when the server could not be reached). */
export class TransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export type TokenSource = string | (() => string | undefined | Promise<string | undefined>) | undefined;

export async function tokenOf(source: TokenSource): Promise<string | undefined> {
  return typeof source === 'function' ? source() : source;
}

/** When a JWT expires (ms since the epoch), read from its payload without verifying it; undefined when it is not one. */
export function jwtExpiry(token: string | undefined): number | undefined {
  const part = token?.split('.')[1];
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='))) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * REST with the caller's token; errors become TransportError with the server's code. A 401 TOKEN_EXPIRED
 * asks the token function again and retries once with what it returns (a token string cannot be renewed).
 */
export async function rest<T>(fetchFn: typeof fetch, baseUrl: string, path: string, body: unknown, token: TokenSource): Promise<T> {
  try {
    return await restOnce<T>(fetchFn, baseUrl, path, body, token);
  } catch (err) {
    if (!(err instanceof TransportError && err.code === 'TOKEN_EXPIRED' && typeof token === 'function')) throw err;
    return restOnce<T>(fetchFn, baseUrl, path, body, token);
  }
}

async function restOnce<T>(fetchFn: typeof fetch, baseUrl: string, path: string, body: unknown, token: TokenSource): Promise<T> {
  const t = await tokenOf(token);
  let res: Response;
  try {
    res = await fetchFn(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}) },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new TransportError('NETWORK', `Cannot reach ${baseUrl}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = json as { code?: string; message?: string } | undefined;
    throw new TransportError(e?.code ?? `HTTP_${res.status}`, e?.message ?? text.slice(0, 200), res.status);
  }
  return json as T;
}
