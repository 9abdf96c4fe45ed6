/**
 * Which replica (IndexedDB database, so which client id and pending queue) this tab uses.
 *
 * Two tabs must never share one: they would push each other's queue and move each
 * other's positions. So:
 * - The replica id lives in sessionStorage: reloading a tab keeps its replica, with
 *   its pending writes (also a reload while offline).
 * - A live tab holds a Web Lock named after its replica. A duplicated tab inherits the
 *   sessionStorage copy but cannot take the lock, so it picks another replica.
 * - A new tab first adopts a replica that no live tab holds (a closed tab's): its pending
 *   writes get sent instead of being stranded, and databases do not pile up. The known
 *   replica ids are listed in localStorage, at most MAX_REPLICAS.
 */
const SESSION_KEY = 'syncline-market:replica';
const KNOWN_KEY = 'syncline-market:replicas';
const LOCK_PREFIX = 'syncline-market:replica:';
const MAX_REPLICAS = 16;
/** A reloading tab's previous document may hold its lock a moment longer than it is visible. */
const RELOAD_WAIT_MS = 1500;

export interface TabReplica {
  /** Short random id, shown in the page and used in the database name. */
  id: string;
  /** The IndexedDB database of this tab's replica. */
  dbName: string;
  /** Taken over from a closed tab (not this tab's own from before a reload). */
  adopted: boolean;
}

export const replicaDbName = (id: string): string => `syncline-market-${id}`;

/** Takes the lock and keeps it for the tab's lifetime; false if someone else holds it (after waiting up to `waitMs`). */
function tryLock(id: string, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const options: LockOptions = waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
    navigator.locks
      .request(LOCK_PREFIX + id, options, (lock) => {
        resolve(lock !== null);
        // Held until the tab goes away (the browser releases it then).
        return lock ? new Promise<void>(() => {}) : undefined;
      })
      .catch(() => resolve(false)); // the wait timed out
  });
}

function known(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(KNOWN_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function remember(id: string): void {
  const ids = [id, ...known().filter((x) => x !== id)].slice(0, MAX_REPLICAS);
  localStorage.setItem(KNOWN_KEY, JSON.stringify(ids));
}

function take(id: string, adopted: boolean): TabReplica {
  sessionStorage.setItem(SESSION_KEY, id);
  remember(id);
  return { id, dbName: replicaDbName(id), adopted };
}

export async function claimReplica(): Promise<TabReplica> {
  const own = sessionStorage.getItem(SESSION_KEY);
  if (!('locks' in navigator)) {
    // No Web Locks (not a secure context): one replica per tab session, without the duplicate guard.
    return take(own ?? newId(), false);
  }
  if (own && ((await tryLock(own, 0)) || (await tryLock(own, RELOAD_WAIT_MS)))) return take(own, false);
  for (const id of known()) {
    if (id !== own && (await tryLock(id, 0))) return take(id, true);
  }
  for (;;) {
    const id = newId();
    if (await tryLock(id, 0)) return take(id, false);
  }
}

function newId(): string {
  return crypto.randomUUID().slice(0, 8);
}
