/**
 * IndexedDBStore: the Store seam on IndexedDB (browsers; fake-indexeddb in Node).
 * One named database, three object stores (version 1; each change of the
 * declared indexes upgrades it by one):
 *
 *   records  key [collection, idKey(id)] → BaseRecord (+ `k`: its keys of the declared indexes)
 *   queue    keyPath `seq`, autoIncrement → PendingOperation
 *   meta     key name → value
 *
 * - `write` is one readwrite transaction over all three: it commits whole or not
 *   at all (also across a crash or a reload), and resolves once it committed.
 * - `seq` comes from the queue's key generator, which IndexedDB persists and
 *   never moves back (not on delete, not on reopen): seqs are never reused.
 * - IndexedDB orders strings by UTF-16 code unit; the protocol orders ids by code
 *   point. `idKey` maps code units so that the keys' order is the ids' order
 *   (the same swap as `compareCodePoints`), so a collection is one key range
 *   [collection] .. [collection, []] in id order, paged by key, never loaded whole.
 * - Another tab upgrading or deleting the database (`versionchange`): the store
 *   closes its connection at once so the other side is not blocked, calls
 *   `onVersionChange`, and later calls reject with STORAGE_UNAVAILABLE.
 *   Our own open being blocked by an older connection elsewhere: `onBlocked` is
 *   called, and `open` gives up after `blockedTimeoutMs`.
 */
import type { Filter } from '@syncline/protocol';
import { matchFilter, SynclineError } from '@syncline/protocol';
import { idKey } from './id-key.js';
import { type IndexDef, indexKey, parseIndexes, planQuery, type StoreIndexes } from './indexes.js';
import type { BaseRecord, PendingOperation, Store, StoreQuery, StoreWrite } from './store.js';
import {
  checkCollection,
  checkId,
  checkString,
  notOpen,
  prepareFind,
  prepareQuery,
  prepareWrite,
  recordMatches,
  sortRecords,
} from './store.js';

export { idKey };

export interface IndexedDBStoreOptions {
  /** The database's name; two stores with one name share their data. */
  name: string;
  /** Default: `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
  /** Default: `globalThis.IDBKeyRange`. In Node pass fake-indexeddb's along with its IDBFactory. */
  IDBKeyRange?: typeof IDBKeyRange;
  /** Durability hint of write transactions; default `strict` (on disk before `write` resolves). */
  durability?: IDBTransactionDurability;
  /** How long `open` waits for older connections elsewhere to close before it rejects; default 10 s. */
  blockedTimeoutMs?: number;
  /** Our open waits for another tab holding an older version open (tell the user to close it). */
  onBlocked?: () => void;
  /** Another connection upgrades or deletes the database; this store has closed (reload the app). */
  onVersionChange?: () => void;
  /**
   * Secondary indexes by collection, e.g. `{product: ['category', ['category', 'price']]}`: IndexedDB indexes,
   * created (and filled from the records held) when the database is opened without them. Indexes can be added
   * later, not dropped: a database with an index this store does not declare was opened by a newer app.
   */
  indexes?: StoreIndexes;
}

const RECORDS = 'records';
const QUEUE = 'queue';
const META = 'meta';
/** Records read per request while filtering: bounds memory whatever the collection's size. */
const FIND_CHUNK = 256;

/** A record as read, without its index keys. */
function plain(r: (BaseRecord & { k?: unknown }) | undefined): BaseRecord | undefined {
  if (r && 'k' in r) delete r.k;
  return r;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export class IndexedDBStore implements Store {
  readonly name: string;
  private readonly factory: IDBFactory;
  private readonly keyRange: typeof IDBKeyRange;
  private readonly durability: IDBTransactionDurability;
  private readonly blockedTimeoutMs: number;
  private readonly options: IndexedDBStoreOptions;
  private db: IDBDatabase | undefined;
  private state: 'new' | 'open' | 'closed' = 'new';
  /** Why the connection went away without `close()`. */
  private lost: string | undefined;
  private readonly indexDefs: Map<string, IndexDef[]>;

  constructor(options: IndexedDBStoreOptions) {
    if (typeof options?.name !== 'string' || options.name.length === 0) {
      throw new SynclineError('INVALID_CONFIG', 'IndexedDBStore needs a database name: new IndexedDBStore({name})');
    }
    const g = globalThis as { indexedDB?: IDBFactory; IDBKeyRange?: typeof IDBKeyRange };
    const factory = options.indexedDB ?? g.indexedDB;
    const keyRange = options.IDBKeyRange ?? g.IDBKeyRange;
    if (!factory) {
      throw new SynclineError(
        'INVALID_CONFIG',
        'IndexedDBStore: there is no IndexedDB here (globalThis.indexedDB is undefined); pass {indexedDB, IDBKeyRange} ' +
          '(in Node, from fake-indexeddb) or use MemoryStore',
      );
    }
    if (!keyRange) {
      throw new SynclineError(
        'INVALID_CONFIG',
        'IndexedDBStore: globalThis.IDBKeyRange is undefined; pass the IDBKeyRange that goes with {indexedDB}',
      );
    }
    this.name = options.name;
    this.factory = factory;
    this.keyRange = keyRange;
    this.durability = options.durability ?? 'strict';
    this.blockedTimeoutMs = options.blockedTimeoutMs ?? 10_000;
    this.options = options;
    this.indexDefs = parseIndexes(options.indexes);
  }

  async open(): Promise<void> {
    if (this.state === 'open') return;
    if (this.state === 'closed') throw notOpen(`IndexedDBStore "${this.name}"`, 'closed');
    let db = await this.connect(undefined);
    const have = new Set(Array.from(db.transaction(RECORDS, 'readonly').objectStore(RECORDS).indexNames));
    const wanted = [...this.indexDefs.values()].flat();
    const unknown = [...have].filter((n) => !wanted.some((d) => d.name === n));
    if (unknown.length > 0) {
      db.close();
      throw new SynclineError(
        'STORAGE_UNAVAILABLE',
        `IndexedDB "${this.name}" was upgraded by a newer version of the app (it has ${unknown.length} index(es) this store does not declare); reload to use the newer version`,
      );
    }
    const missing = wanted.filter((d) => !have.has(d.name));
    if (missing.length > 0) {
      const version = db.version + 1;
      db.close();
      db = await this.connect(version, missing);
    }
    this.db = db;
    this.state = 'open';
  }

  /** The record as stored: with its keys of the collection's declared indexes. */
  private stored(r: BaseRecord): BaseRecord & { k?: Record<string, (string | number)[]> } {
    const defs = this.indexDefs.get(r.collection);
    if (!defs) return r;
    const k: Record<string, (string | number)[]> = {};
    for (const d of defs) k[d.name] = indexKey(d, r.data, r.id);
    return { ...r, k };
  }

  async getMany(collection: string, ids: string[]): Promise<(BaseRecord | undefined)[]> {
    const c = checkCollection(collection, 'collection');
    for (const id of ids) checkId(id, 'id');
    if (ids.length === 0) return [];
    const store = this.objectStore(RECORDS);
    // One transaction, requests in flight together.
    return Promise.all(ids.map((id) => request<BaseRecord | undefined>(store.get([c, idKey(id)])).then(plain)));
  }

  async query(collection: string, q?: StoreQuery): Promise<BaseRecord[]> {
    const { query, idAscending } = prepareQuery(collection, q);
    if (query.limit === 0) return [];
    const store = this.objectStore(RECORDS);
    const plan = planQuery(this.indexDefs.get(collection), query.filter, query.keys, idAscending);
    if (!plan) {
      const rows = (await request(store.getAll(this.keyRange.bound([collection], [collection, []])))) as BaseRecord[];
      return sortRecords(rows.filter((r) => recordMatches(r, query)).map(plain) as BaseRecord[], query).slice(0, query.limit);
    }
    const index = store.index(plan.def.name);
    const range = plan.prefix.length > 0 ? this.keyRange.bound(plan.prefix, [...plan.prefix, []]) : undefined;
    if (!plan.ordered || !Number.isFinite(query.limit)) {
      const rows = ((await request(index.getAll(range))) as BaseRecord[]).filter((r) => recordMatches(r, query)).map(plain) as BaseRecord[];
      return (plan.ordered ? rows : sortRecords(rows, query)).slice(0, query.limit);
    }
    // In index order with a limit: a cursor, stopped once the page is full.
    return new Promise((resolve, reject) => {
      const out: BaseRecord[] = [];
      const r = index.openCursor(range);
      r.onerror = () => reject(r.error);
      r.onsuccess = () => {
        const cursor = r.result;
        if (!cursor) return resolve(out);
        const row = cursor.value as BaseRecord;
        if (recordMatches(row, query)) out.push(plain(row) as BaseRecord);
        if (out.length >= query.limit) return resolve(out);
        cursor.continue();
      };
    });
  }

  async get(collection: string, id: string): Promise<BaseRecord | undefined> {
    const key = [checkCollection(collection, 'collection'), idKey(checkId(id, 'id'))];
    return plain(await request<BaseRecord | undefined>(this.objectStore(RECORDS).get(key)));
  }

  async find(collection: string, filter?: Filter, page?: { limit?: number; after?: string }): Promise<BaseRecord[]> {
    const q = prepareFind(collection, filter, page);
    const store = this.objectStore(RECORDS);
    if (q.limit === 0) return [];
    const upper = [q.collection, []];
    const rangeAfter = (id: string | undefined): IDBKeyRange =>
      id === undefined ? this.keyRange.bound([q.collection], upper) : this.keyRange.bound([q.collection, idKey(id)], upper, true);
    if (!q.filter)
      return ((await request(store.getAll(rangeAfter(q.after), Number.isFinite(q.limit) ? q.limit : undefined))) as BaseRecord[]).map(
        plain,
      ) as BaseRecord[];
    const where = q.filter;
    // Keyset-paged reads of FIND_CHUNK records in one transaction, filtered as they come.
    return new Promise((resolve, reject) => {
      const out: BaseRecord[] = [];
      const next = (after: string | undefined): void => {
        const r = store.getAll(rangeAfter(after), FIND_CHUNK);
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          try {
            const rows = r.result as BaseRecord[];
            for (const row of rows) {
              if (!matchFilter(where, { ...row.data, _id: row.id, _rev: row.version })) continue;
              out.push(plain(row) as BaseRecord);
              if (out.length >= q.limit) return resolve(out);
            }
            if (rows.length < FIND_CHUNK) return resolve(out);
            next(rows[rows.length - 1]!.id);
          } catch (e) {
            reject(e);
          }
        };
      };
      next(q.after);
    });
  }

  async count(collection?: string): Promise<number> {
    if (collection === undefined) return request(this.objectStore(RECORDS).count());
    const c = checkCollection(collection, 'collection');
    return request(this.objectStore(RECORDS).count(this.keyRange.bound([c], [c, []])));
  }

  async pending(): Promise<PendingOperation[]> {
    return request(this.objectStore(QUEUE).getAll() as IDBRequest<PendingOperation[]>);
  }

  async getMeta<T = unknown>(key: string): Promise<T | undefined> {
    return request(this.objectStore(META).get(checkString(key, 'key')) as IDBRequest<T | undefined>);
  }

  async write(w: StoreWrite): Promise<number[]> {
    const db = this.connection();
    // Bad input fails here, before the transaction; anything failing inside aborts it whole.
    const p = prepareWrite(w);
    return new Promise((resolve, reject) => {
      const tx = db.transaction([RECORDS, QUEUE, META], 'readwrite', { durability: this.durability });
      const seqs: number[] = [];
      let failure: unknown;
      const fail = (e: unknown): void => {
        failure ??= e;
        try {
          tx.abort();
        } catch {
          // Already finished or aborting: onabort reports.
        }
      };
      tx.oncomplete = () => resolve(seqs);
      tx.onabort = () =>
        reject(
          failure ??
            tx.error ??
            new SynclineError('STORAGE_UNAVAILABLE', `the write to IndexedDB "${this.name}" was aborted; nothing was written`),
        );
      try {
        const records = tx.objectStore(RECORDS);
        const queue = tx.objectStore(QUEUE);
        const meta = tx.objectStore(META);
        for (const c of p.clear) records.delete(this.keyRange.bound([c], [c, []]));
        for (const d of p.delete) records.delete([d.collection, idKey(d.id)]);
        for (const r of p.put) records.put(this.stored(r), [r.collection, idKey(r.id)]);
        for (const seq of p.dequeue) queue.delete(seq);
        for (const u of p.update) {
          // Only entries still queued: requests run in order, so this sees the dequeues above.
          const r = queue.get(u.seq);
          r.onsuccess = () => {
            try {
              if (r.result !== undefined) queue.put(u);
            } catch (e) {
              fail(e);
            }
          };
        }
        p.enqueue.forEach((e, i) => {
          const r = queue.add(e);
          r.onsuccess = () => {
            seqs[i] = r.result as number;
          };
        });
        for (const [key, value] of p.meta) {
          if (value === undefined) meta.delete(key);
          else meta.put(value, key);
        }
      } catch (e) {
        fail(e);
      }
    });
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.db?.close();
    this.db = undefined;
  }

  private connection(): IDBDatabase {
    if (this.state !== 'open' || !this.db) {
      if (this.lost) throw new SynclineError('STORAGE_UNAVAILABLE', `IndexedDB "${this.name}" ${this.lost}; reload the app to reopen it`);
      throw notOpen(`IndexedDBStore "${this.name}"`, this.state === 'open' ? 'closed' : this.state);
    }
    return this.db;
  }

  private objectStore(name: string): IDBObjectStore {
    return this.connection().transaction(name, 'readonly').objectStore(name);
  }

  private connectionLost(reason: string): void {
    this.lost = reason;
    this.state = 'closed';
    this.db?.close();
    this.db = undefined;
  }

  /** Opens at `version` (undefined: the current one, or 1 for a new database), creating and filling `add` indexes. */
  private connect(version: number | undefined, add: IndexDef[] = []): Promise<IDBDatabase> {
    const name = this.name;
    return new Promise((resolve, reject) => {
      const req = version === undefined ? this.factory.open(name) : this.factory.open(name, version);
      let timer: ReturnType<typeof setTimeout> | undefined;
      let gaveUp = false;
      req.onupgradeneeded = (event) => {
        const db = req.result;
        if (event.oldVersion < 1) {
          db.createObjectStore(RECORDS);
          db.createObjectStore(QUEUE, { keyPath: 'seq', autoIncrement: true });
          db.createObjectStore(META);
        }
        if (add.length === 0) return;
        const tx = req.transaction as IDBTransaction;
        if (!db.objectStoreNames.contains(RECORDS)) return; // not ours: refused on success
        const records = tx.objectStore(RECORDS);
        for (const d of add) if (!records.indexNames.contains(d.name)) records.createIndex(d.name, `k.${d.name}`);
        // Records already held get their keys of the new indexes (one cursor per collection, in this upgrade).
        for (const collection of new Set(add.map((d) => d.collection))) {
          const defs = add.filter((d) => d.collection === collection);
          const cursor = records.openCursor(this.keyRange.bound([collection], [collection, []]));
          cursor.onsuccess = () => {
            const c = cursor.result;
            if (!c) return;
            const v = c.value as BaseRecord & { k?: Record<string, unknown> };
            const k = { ...(v.k ?? {}) };
            for (const d of defs) k[d.name] = indexKey(d, v.data, v.id);
            c.update({ ...v, k });
            c.continue();
          };
        }
      };
      req.onblocked = () => {
        this.options.onBlocked?.();
        timer ??= setTimeout(() => {
          gaveUp = true;
          reject(
            new SynclineError(
              'STORAGE_UNAVAILABLE',
              `IndexedDB "${name}" is held open at an older version by another tab or connection; close it and open the store again`,
            ),
          );
        }, this.blockedTimeoutMs);
      };
      req.onsuccess = () => {
        clearTimeout(timer);
        const db = req.result;
        if (gaveUp) return db.close();
        const missing = [RECORDS, QUEUE, META].filter((s) => !db.objectStoreNames.contains(s));
        if (missing.length > 0) {
          db.close();
          return reject(
            new SynclineError(
              'STORAGE_UNAVAILABLE',
              `IndexedDB "${name}" exists but is not a Syncline store (no object store ${missing.join(', ')}); use another name`,
            ),
          );
        }
        db.onversionchange = () => {
          this.connectionLost('was closed because another connection upgraded or deleted the database');
          this.options.onVersionChange?.();
        };
        db.onclose = () => this.connectionLost('was closed by the browser (storage cleared or lost)');
        resolve(db);
      };
      req.onerror = () => {
        clearTimeout(timer);
        const e = req.error;
        if (e?.name === 'VersionError') {
          reject(
            new SynclineError(
              'STORAGE_UNAVAILABLE',
              `IndexedDB "${name}" was upgraded by a newer version of the app; reload to use the newer version`,
              undefined,
              { cause: e },
            ),
          );
        } else reject(e);
      };
    });
  }
}
