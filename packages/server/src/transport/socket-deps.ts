import type { FastifyBaseLogger } from 'fastify';
import type { AdminMetrics } from '../admin/admin-metrics.js';
import type { Access } from '../auth/access.js';
import type { Identity } from '../auth/authenticate.js';
import type { ColumnFilters } from '../auth/column-filters.js';
import type { Policy } from '../auth/policy.js';
import type { EventBus } from '../bus/event-bus.js';
import type { Config } from '../config/options.js';
import type { SharedFeed } from '../engine/change-feed.js';
import type { Storage } from '../storage/storage.js';
import type { SocketLimits } from './rate-limits.js';
import type { SocketExpiry } from './socket-expiry.js';

/** What a Socket.IO namespace handler gets from the server. */
export interface SocketDeps {
  /** The public storage (auth/public-storage.ts): no FILTERS column, no `old` rows. */
  storage: Storage;
  /** The raw storage, for reads that apply read rules themselves (they need old rows), then redact. */
  raw: Storage;
  /** FILTERS: redact what is delivered from the feed (which carries raw changes). */
  filters: ColumnFilters;
  config: Config;
  log: FastifyBaseLogger;
  /** Who a socket is (the SDK namespaces authenticate in a middleware; `socket.data.identity`). */
  access: Access;
  /** Ends what an expired token allowed, on every namespace; answers `auth` (re-authentication). */
  expiry: SocketExpiry;
  /** Read and write rules. */
  policy: Policy;
  /** The instance's change feed (started by the server after every namespace is registered). */
  feed: SharedFeed;
  /** The event bus to the other instances (absent: this instance alone). */
  bus?: EventBus;
  /** Sockets and events per user, shared by every namespace (absent: no limits). */
  limits?: SocketLimits;
  /** The admin API's counters (absent: nothing is recorded). */
  metrics?: AdminMetrics;
}

/** Stops a namespace's background work (called on server close). */
export type StopNamespace = () => Promise<void>;

/** The identity the auth middleware gave this socket (anonymous when none ran). */
export function socketIdentity(socket: { data: { identity?: Identity } }): Identity {
  return socket.data.identity ?? { userId: null, claims: {}, method: 'anonymous' };
}
