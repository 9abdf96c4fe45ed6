/**
 * React bindings for the Syncline client, on `useSyncExternalStore`:
 *
 *   <SynclineProvider client={client}> ... </SynclineProvider>
 *   const { docs, total, loading, error } = useQuery('todos', { filter: { done: false }, sort: { title: 'asc' }, limit: 20 });
 *   const { doc, loading } = useDocument('todos', id);
 *   const status = useSyncStatus(); // { state: 'online' | 'offline' | 'syncing', pending, ... }
 *
 * Re-renders follow the client's live queries: a component renders again only
 * when its query's window (or its document, or the status) changed, and the
 * documents keep their identity until they change, so `memo` rows of a list
 * render again only for the documents that changed.
 */
import type { ClientStatus, Collection, Doc, Query, SynclineClient, TypedQuery } from '@syncline/client';
import { createContext, createElement, type ReactNode, useContext, useMemo, useSyncExternalStore } from 'react';

const ClientContext = createContext<SynclineClient | null>(null);

/** Makes `client` the one the hooks below use (create it once, outside the component tree). */
export function SynclineProvider(props: { client: SynclineClient; children?: ReactNode }): ReactNode {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest SynclineProvider. */
export function useClient(): SynclineClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('Syncline hooks need a <SynclineProvider client={client}> above them');
  return client;
}

export interface QueryResult<T> {
  /** The query's window (empty while loading); frozen documents that keep their identity until they change. */
  docs: readonly (T & Doc)[];
  /** Documents matching the filter, before offset/after/limit. */
  total: number;
  /** True until the first result arrived. */
  loading: boolean;
  /** Set when the query was refused (a bad filter or sort: VALIDATION_FAILED, UNKNOWN_OPERATOR, ...). */
  error?: Error;
}

export interface DocumentResult<T> {
  /** The document, or null while loading and when it does not exist (or is deleted). */
  doc: (T & Doc) | null;
  loading: boolean;
  error?: Error;
}

/** A snapshot holder for useSyncExternalStore: the live query starts on the first subscriber and stops with the last. */
interface External<S> {
  subscribe(onChange: () => void): () => void;
  getSnapshot(): S;
}

const EMPTY: readonly Doc[] = Object.freeze([]);
const LOADING: QueryResult<Doc> = Object.freeze({ docs: EMPTY, total: 0, loading: true });

function sameDocs(a: readonly Doc[], b: readonly Doc[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** No collection yet (null): loading, and nothing to subscribe to. */
const NOTHING: External<QueryResult<Doc>> = { subscribe: () => () => {}, getSnapshot: () => LOADING };

function liveQuery(collection: Collection | null, query: Query): External<QueryResult<Doc>> {
  if (!collection) return NOTHING;
  let snapshot = LOADING;
  let stop: (() => void) | undefined;
  const listeners = new Set<() => void>();
  const publish = (next: QueryResult<Doc>) => {
    snapshot = next;
    for (const l of listeners) l();
  };
  return {
    subscribe(onChange) {
      listeners.add(onChange);
      if (listeners.size === 1) {
        try {
          stop = collection.live(query, (docs, info) => {
            // The same documents (by identity) and total: keep the snapshot, so nothing renders again.
            if (!snapshot.loading && !snapshot.error && snapshot.total === info.total && sameDocs(snapshot.docs, docs)) return;
            publish({ docs, total: info.total, loading: false });
          });
        } catch (e) {
          publish({ docs: EMPTY, total: 0, loading: false, error: e as Error });
        }
      }
      return () => {
        listeners.delete(onChange);
        if (listeners.size === 0) {
          stop?.();
          stop = undefined;
        }
      };
    },
    getSnapshot: () => snapshot,
  };
}

/**
 * Which collection a hook reads: a name (through the provider's client), a `Collection` (kept by identity: make it
 * once, e.g. with useMemo, not in every render), or null (none yet, e.g. while the app opens its client: loading).
 */
export type CollectionRef<T extends object = Record<string, unknown>> = string | Collection<T> | null;

function useCollection<T extends object>(collection: CollectionRef<T>): Collection | null {
  const client = useContext(ClientContext);
  // client.collection() returns a new handle on the same replica state each time; memoized for a stable identity.
  return useMemo(() => {
    if (typeof collection !== 'string') return collection as Collection | null;
    if (!client) throw new Error('Syncline hooks need a <SynclineProvider client={client}> above them');
    return client.collection(collection);
  }, [client, collection]);
}

/**
 * A live query: the documents of `collection` matching `query.filter`, in `query.sort` order (then `_id`),
 * windowed by `offset`/`after` and `limit`. Renders again only when that window changed.
 * The query is compared by value (its JSON), so an inline object literal is fine.
 */
export function useQuery<T extends object = Record<string, unknown>>(
  collection: CollectionRef<T>,
  query: TypedQuery<T> = {},
): QueryResult<T> {
  const col = useCollection(collection);
  const key = JSON.stringify(query);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the query is keyed by its JSON, not by the object's identity
  const store = useMemo(() => liveQuery(col, query as Query), [col, key]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot) as QueryResult<T>;
}

/** Document `id` of `collection`, live: renders again only when that document changed (or appeared, or went away). */
export function useDocument<T extends object = Record<string, unknown>>(collection: CollectionRef<T>, id: string): DocumentResult<T> {
  const col = useCollection(collection);
  const store = useMemo(() => {
    const q = liveQuery(col, { filter: { _id: id }, limit: 1 });
    let last: QueryResult<Doc> | undefined;
    let result: DocumentResult<Doc> = { doc: null, loading: true };
    return {
      subscribe: q.subscribe,
      getSnapshot(): DocumentResult<Doc> {
        const r = q.getSnapshot();
        if (r !== last) {
          last = r;
          const doc = r.docs[0] ?? null;
          // A new query snapshot with the same document (or none again) keeps the previous result: no render.
          if (doc !== result.doc || r.loading !== result.loading || r.error !== result.error) {
            result = { doc, loading: r.loading, ...(r.error ? { error: r.error } : {}) };
          }
        }
        return result;
      },
    };
  }, [col, id]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot) as DocumentResult<T>;
}

/** The client's sync status; renders again when its state, pending count, position or error changed. */
export function useSyncStatus(): ClientStatus {
  const client = useClient();
  const store = useMemo(() => {
    let snapshot = client.status;
    return {
      subscribe(onChange: () => void) {
        const off = client.on('status', (s) => {
          snapshot = s;
          onChange();
        });
        // A status published between the render and this subscription would otherwise be missed.
        const now = client.status;
        if (now.state !== snapshot.state || now.pending !== snapshot.pending || now.position !== snapshot.position) {
          snapshot = now;
          onChange();
        }
        return off;
      },
      getSnapshot: () => snapshot,
    };
  }, [client]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
