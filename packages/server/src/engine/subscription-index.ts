/**
 * Live subscriptions, grouped: every subscription with the same collection and
 * filter is one group (one Socket.IO room, one encoded frame per tick). Groups
 * are indexed by collection and, when the filter has a top-level equality (or
 * a short `$in`) on a field, by that field's values, so matching a change looks
 * at the candidate groups only, never at every subscriber.
 *
 * A group's filter includes the subscriber's read rule (auth/policy.ts), so a
 * change is matched against the row before and after it: a document that
 * enters a group's filter is an insert for it, one that leaves is a delete.
 */
import { createHash } from 'node:crypto';
import { type Change, canonical, type Filter, type FilterDocument, matchFilter } from '@syncline/protocol';

export interface Group {
  id: string;
  collection: string;
  filter: Filter;
  /** The filter holds a read rule: a delete whose old row is unknown may not reach it. */
  ruled: boolean;
  /** Field and JSON values of the equality (or short `$in`) this group is indexed under, if any. */
  eq: { field: string; keys: string[] } | undefined;
  /** Position of the last frame sent to the group (its `from` for the next one). */
  lastSent: number;
  /** Changes matched in the current tick, not yet sent. */
  pending: Change[];
  members: number;
}

interface CollectionBucket {
  unindexed: Set<Group>;
  byEq: Map<string, Map<string, Set<Group>>>;
}

const isPrimitive = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

const MAX_INDEXED_IN = 8;

/** A top-level `field: literal`, `{$eq: literal}` or short `{$in: [literals]}` the group can be indexed by. */
function equalityOf(filter: Filter): { field: string; keys: string[] } | undefined {
  for (const [field, cond] of Object.entries(filter)) {
    if (field.startsWith('$') || field === '_rev' || field.includes('.')) continue;
    // null also matches a missing field, which has no value to index by.
    if (isPrimitive(cond) && cond !== null) return { field, keys: [JSON.stringify(cond)] };
    if (cond && typeof cond === 'object' && !Array.isArray(cond)) {
      const keys = Object.keys(cond);
      const eq = (cond as Record<string, unknown>).$eq;
      if (keys.length === 1 && keys[0] === '$eq' && isPrimitive(eq) && eq !== null) return { field, keys: [JSON.stringify(eq)] };
      const list = (cond as Record<string, unknown>).$in;
      if (keys.length === 1 && Array.isArray(list) && list.length <= MAX_INDEXED_IN && list.every((v) => isPrimitive(v) && v !== null)) {
        return { field, keys: list.map((v) => JSON.stringify(v)) };
      }
    }
  }
  return undefined;
}

export function groupId(collection: string, filter: Filter): string {
  return createHash('sha256')
    .update(`${collection}\u0000${canonical(filter)}`)
    .digest('base64url')
    .slice(0, 22);
}

export class SubscriptionIndex {
  private readonly groups = new Map<string, Group>();
  private readonly collections = new Map<string, CollectionBucket>();

  get size(): number {
    return this.groups.size;
  }

  get(id: string): Group | undefined {
    return this.groups.get(id);
  }

  /** The group for (collection, filter), created if new; counts one more member. */
  join(collection: string, filter: Filter, position: number, ruled = false): Group {
    const id = groupId(collection, filter);
    let g = this.groups.get(id);
    if (!g) {
      g = { id, collection, filter, ruled, eq: equalityOf(filter), lastSent: position, pending: [], members: 0 };
      this.groups.set(id, g);
      let bucket = this.collections.get(collection);
      if (!bucket) {
        bucket = { unindexed: new Set(), byEq: new Map() };
        this.collections.set(collection, bucket);
      }
      if (g.eq) {
        let values = bucket.byEq.get(g.eq.field);
        if (!values) {
          values = new Map();
          bucket.byEq.set(g.eq.field, values);
        }
        for (const key of g.eq.keys) {
          let set = values.get(key);
          if (!set) {
            set = new Set();
            values.set(key, set);
          }
          set.add(g);
        }
      } else bucket.unindexed.add(g);
    }
    g.members++;
    return g;
  }

  leave(g: Group): void {
    if (--g.members > 0) return;
    this.groups.delete(g.id);
    const bucket = this.collections.get(g.collection);
    if (!bucket) return;
    if (g.eq) {
      const values = bucket.byEq.get(g.eq.field);
      for (const key of g.eq.keys) {
        const set = values?.get(key);
        set?.delete(g);
        if (set?.size === 0) values?.delete(key);
      }
      if (values?.size === 0) bucket.byEq.delete(g.eq.field);
    } else bucket.unindexed.delete(g);
    if (bucket.unindexed.size === 0 && bucket.byEq.size === 0) this.collections.delete(g.collection);
  }

  /** The groups that receive this change, each with the change as that group sees it. */
  *match(change: Change): Iterable<[Group, Change]> {
    const rows = rowsOf(change);
    const seen = new Set<Group>();
    for (const g of this.candidatesFor(change.collection, rows)) {
      if (seen.has(g)) continue;
      seen.add(g);
      const view = viewOf(g.filter, g.ruled, change, rows);
      if (view) yield [g, view];
    }
  }

  /** The groups a change is checked against (see candidatesFor). */
  candidates(change: Change): Iterable<Group> {
    return this.candidatesFor(change.collection, rowsOf(change));
  }

  /** Its collection's unindexed groups and the ones indexed under a value of the row before or after. */
  private *candidatesFor(collection: string, rows: Rows): Iterable<Group> {
    const bucket = this.collections.get(collection);
    if (!bucket) return;
    yield* bucket.unindexed;
    // A row of unknown old values: every indexed group could have held it.
    if (rows.before === undefined && rows.after === null) {
      for (const values of bucket.byEq.values()) for (const set of values.values()) yield* set;
      return;
    }
    for (const [field, values] of bucket.byEq) {
      for (const row of [rows.after, rows.before]) {
        const v = row?.[field];
        if (!isPrimitive(v) || v === undefined) continue;
        const set = values.get(JSON.stringify(v));
        if (set) yield* set;
      }
    }
  }
}

type Row = FilterDocument;
interface Rows {
  /** The row before the change: null when there was none, undefined when unknown. */
  before: Row | null | undefined;
  after: Row | null;
}

/** The rows of a change: after from its data; before from its (server-only) old values, where the log keeps them. */
function rowsOf(change: Change): Rows {
  const meta = { _id: change.docId, _rev: change.version };
  const after = change.type === 'delete' || change.data === null ? null : { ...change.data, ...meta };
  if (change.type === 'insert') return { before: null, after };
  if (change.type === 'update')
    return { before: change.old && change.data ? { ...change.data, ...change.old, ...meta } : undefined, after };
  return { before: change.old ? { ...change.old, ...meta } : undefined, after };
}

/**
 * A change as a group with this filter sees it: as is; as an insert when the
 * row entered the filter; as a delete (no data) when it left it; or null. A
 * delete whose old row is unknown reaches the groups without a read rule only.
 */
function viewOf(filter: Filter, ruled: boolean, change: Change, rows: Rows): Change | null {
  const now = rows.after ? matchFilter(filter, rows.after) : false;
  const was = rows.before === undefined ? undefined : rows.before === null ? false : matchFilter(filter, rows.before);
  if (change.type === 'insert') return now ? change : null;
  if (change.type === 'delete') return (was ?? !ruled) ? change : null;
  if (was === undefined || (now && was)) return now ? change : null;
  if (now) return { ...change, type: 'insert' };
  return was ? { ...change, type: 'delete', data: null } : null;
}

/** A change as a subscription sees it (catch-up reads the log directly), or null. */
export function changeFor(collection: string, filter: Filter, ruled: boolean, change: Change): Change | null {
  if (change.collection !== collection) return null;
  return viewOf(filter, ruled, change, rowsOf(change));
}
