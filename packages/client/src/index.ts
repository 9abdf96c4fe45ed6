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
  type LiveQueryInfo,
  type Schema,
  SynclineClient,
  type WriteOutcome,
} from './client.js';
export { createDatabase, type DatabaseOptions, type SyncControl } from './database.js';
export { ConflictError, RejectedError, SyncError, ValidationError } from './errors.js';
export type { Query, SortDirection } from './query.js';
export type { IndexedDBStoreOptions } from './store/indexeddb-store.js';
export { IndexedDBStore } from './store/indexeddb-store.js';
export type { IndexSpec, StoreIndexes } from './store/indexes.js';
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export type { BaseRecord, PendingOperation, Store, StoreQuery, StoreWrite } from './store/store.js';
export { HttpTransport } from './transport/http.js';
export { SocketTransport } from './transport/socket.js';
export type { Frame, StatusReport, SubscriptionHandlers, Transport, TransportEvents } from './transport/transport.js';
export type { DocMeta, DocOf, FieldCondition, FieldOperators, InferSchema, TypedFilter, TypedQuery } from './typed.js';

export const version = '0.1.0';
