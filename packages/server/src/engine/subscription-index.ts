/**
 * Live subscriptions, grouped: every subscription with the same collection and
 * filter is one group (one Socket.IO room, one encoded frame per tick). Groups
 * are indexed by collection and, when the filter has a top-level equality on a
 * field, by that field's value, so matching a change looks at the candidate
 * groups only, never at every subscriber.
 */
import { createHash } from 'node:crypto';
import { type Change, type Filter, matchFilter } from '@syncline/protocol';

export interface Group {
  id: string;
  collection: string;
  filter: Filter;
  /** Field and JSON value of the equality this group is indexed under, if any. */
  eq: { field: string; key: string } | undefined;
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

/** A top-level `field: literal` (or `{$eq: literal}`) the group can be indexed by. */
function equalityOf(filter: Filter): { field: string; key: string } | undefined {
  for (const [field, cond] of Object.entries(filter)) {
    if (field.startsWith('$') || field === '_rev' || field.includes('.')) continue;
    // null also matches a missing field, which has no value to index by.
    if (isPrimitive(cond) && cond !== null) return { field, key: JSON.stringify(cond) };
    if (cond && typeof cond === 'object' && !Array.isArray(cond)) {
      const keys = Object.keys(cond);
      const eq = (cond as Record<string, unknown>).$eq;
      if (keys.length === 1 && keys[0] === '$eq' && isPrimitive(eq) && eq !== null) return { field, key: JSON.stringify(eq) };
    }
  }
  return undefined;
}

/** Canonical JSON (sorted keys), so equal filters make equal group ids. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
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
  join(collection: string, filter: Filter, position: number): Group {
    const id = groupId(collection, filter);
    let g = this.groups.get(id);
    if (!g) {
      g = { id, collection, filter, eq: equalityOf(filter), lastSent: position, pending: [], members: 0 };
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
        let set = values.get(g.eq.key);
        if (!set) {
          set = new Set();
          values.set(g.eq.key, set);
        }
        set.add(g);
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
      const set = values?.get(g.eq.key);
      set?.delete(g);
      if (set?.size === 0) values?.delete(g.eq.key);
      if (values?.size === 0) bucket.byEq.delete(g.eq.field);
    } else bucket.unindexed.delete(g);
    if (bucket.unindexed.size === 0 && bucket.byEq.size === 0) this.collections.delete(g.collection);
  }

  /**
   * Groups that receive this change. A delete has no fields left to match, so it
   * goes to every group of its collection (it carries only the id).
   */
  *match(change: Change): Iterable<Group> {
    if (change.type === 'delete' || change.data === null) {
      yield* this.candidates(change);
      return;
    }
    const doc = { ...change.data, _id: change.docId, _rev: change.version };
    for (const g of this.candidates(change)) if (matchFilter(g.filter, doc)) yield g;
  }

  /** The groups a change must be checked against: its collection's unindexed groups and the ones indexed under its values. */
  *candidates(change: Change): Iterable<Group> {
    const bucket = this.collections.get(change.collection);
    if (!bucket) return;
    yield* bucket.unindexed;
    if (change.type === 'delete' || change.data === null) {
      for (const values of bucket.byEq.values()) for (const set of values.values()) yield* set;
      return;
    }
    for (const [field, values] of bucket.byEq) {
      const v = change.data[field];
      if (!isPrimitive(v)) continue;
      const set = values.get(JSON.stringify(v));
      if (set) yield* set;
    }
  }
}

/** Whether a change belongs to a subscription (used for catch-up, which reads the log directly). */
export function changeMatches(collection: string, filter: Filter, change: Change): boolean {
  if (change.collection !== collection) return false;
  if (change.type === 'delete' || change.data === null) return true;
  return matchFilter(filter, { ...change.data, _id: change.docId, _rev: change.version });
}
