export {
  type ClientEvents,
  type ClientOptions,
  type ClientStatus,
  Collection,
  type ConflictContext,
  type ConflictResolver,
  type ConflictStrategy,
  createClient,
  type Doc,
  type Schema,
  SynclineClient,
  type WriteOutcome,
} from './client.js';
export { createDatabase, type DatabaseOptions, type SyncControl } from './database.js';
export { ConflictError, RejectedError, SyncError, ValidationError } from './errors.js';
export type { IndexedDBStoreOptions } from './store/indexeddb-store.js';
export { IndexedDBStore } from './store/indexeddb-store.js';
export { MemoryStore } from './store/memory-store.js';
export type { BaseRecord, PendingOperation, Store, StoreWrite } from './store/store.js';
export { HttpTransport } from './transport/http.js';
export { SocketTransport } from './transport/socket.js';
export type { Frame, StatusReport, SubscriptionHandlers, Transport, TransportEvents } from './transport/transport.js';

export const version = '0.1.0';
