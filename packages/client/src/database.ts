/**
 * `createDatabase({name, serverUrl, syncInterval})` → `{db, sync}`: the
 * reference (SyncFlow) client API, on the same core as `createClient`: HTTP
 * polling every `syncInterval` ms, stored in IndexedDB database `name` where
 * IndexedDB exists (browsers), else in memory.
 */
import { type ClientOptions, createClient, type SynclineClient } from './client.js';
import { IndexedDBStore } from './store/indexeddb-store.js';
import { MemoryStore } from './store/memory-store.js';
import type { Store } from './store/store.js';

export interface DatabaseOptions extends Partial<Omit<ClientOptions, 'url' | 'store'>> {
  name: string;
  serverUrl: string;
  /** Poll period in ms (default 5000, as the reference). */
  syncInterval?: number;
  store?: Store;
}

export interface SyncControl {
  /** Pull and push now; resolves when done. */
  now(): Promise<void>;
  start(): void;
  stop(): void;
  whenSynced(): Promise<void>;
  readonly status: SynclineClient['status'];
}

export async function createDatabase(options: DatabaseOptions): Promise<{ db: SynclineClient; sync: SyncControl }> {
  const { name, serverUrl, syncInterval = 5000, store, ...rest } = options;
  const db = createClient({
    ...rest,
    url: serverUrl,
    transport: 'http',
    syncInterval,
    store: store ?? (globalThis.indexedDB ? new IndexedDBStore({ name }) : new MemoryStore()),
  });
  await db.ready();
  const sync: SyncControl = {
    now: () => db.poll(),
    start: () => db.resume(),
    stop: () => db.pause(),
    whenSynced: () => db.whenSynced(),
    get status() {
      return db.status;
    },
  };
  return { db, sync };
}
