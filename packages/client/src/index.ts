export type { IndexedDBStoreOptions } from './store/indexeddb-store.js';
export { IndexedDBStore } from './store/indexeddb-store.js';
export { MemoryStore } from './store/memory-store.js';
export type { BaseRecord, PendingOperation, Store, StoreWrite } from './store/store.js';

export const version = '0.1.0';
