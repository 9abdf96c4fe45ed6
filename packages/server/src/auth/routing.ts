/**
 * TABLE_AUTH_COLUMN_ROUTING (as in esink): who receives a change of a
 * collection on the default namespace, and as which event type. Pure: no I/O.
 *
 * A rule is `'*'` (everyone, anonymous connections included) or a list of
 * columns; a user receives the change when their id equals (as strings) one of
 * those columns of the row. For an update both the old and the new row count:
 *
 *   user reaches old row │ new row │ event for that user
 *   ─────────────────────┼─────────┼──────────────────────────────
 *            yes         │   yes   │ update (new row)
 *            no          │   yes   │ insert (new row)   moved in
 *            yes         │   no    │ delete (old row)   moved out: replicas drop it
 *
 * A collection without a rule is delivered to no one (deny by default).
 */
import type { Change, ChangeType } from '@syncline/protocol';

export type Row = Record<string, unknown>;
/** A routing rule: everyone, or the columns that hold a user id. */
export type Rule = '*' | readonly string[];

/** One payload and who gets it: everyone (`'*'`) or these user ids. */
export interface Delivery {
  type: ChangeType;
  /** The new row, or for a delete the old row (null when unknown). */
  row: Row | null;
  to: '*' | string[];
}

/**
 * What routing knows of a change: the row before (null when there was none,
 * undefined when unknown) and after (null for a delete).
 */
export interface RoutedRows {
  type: ChangeType;
  before: Row | null | undefined;
  after: Row | null;
}

/**
 * The rows of a change from the feed. Table rows carry their columns; a
 * document gets its id as `_id` (the REST shape), so a rule may name `_id`.
 * The old row comes from the change's server-side old values; a change logged
 * without them (before migration 2) routes an update by its new row only and a
 * document delete by its `_id` only.
 */
export function changeRows(change: Change, isTable: boolean): RoutedRows {
  const withId = (row: Row | null | undefined): Row | null | undefined => (isTable || row == null ? row : { _id: change.docId, ...row });
  const after = change.type === 'delete' ? null : (withId(change.data) ?? null);
  let before: Row | null | undefined;
  if (change.type === 'insert') before = null;
  else if (change.type === 'update') before = change.old && change.data ? { ...withId(change.data), ...change.old } : undefined;
  else before = withId(change.old) ?? (isTable ? undefined : { _id: change.docId });
  return { type: change.type, before, after };
}

/** The rows of an event posted to `/publish` (or by a client): `data` is the row, the old one for a delete. */
export function publishedRows(type: ChangeType, data: Row): RoutedRows {
  return type === 'delete' ? { type, before: data, after: null } : { type, before: type === 'insert' ? null : undefined, after: data };
}

/** User ids a row reaches under a column rule (ids compared as strings). */
export function owners(row: Row | null | undefined, columns: readonly string[]): Set<string> {
  const out = new Set<string>();
  if (!row) return out;
  for (const column of columns) {
    if (!Object.hasOwn(row, column)) continue;
    const v = row[column];
    // Booleans are never user ids (the read rules agree: `true` does not match user "true").
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') out.add(String(v));
  }
  return out;
}

/** The deliveries of one change under `rule` (none when the collection has no rule). */
export function route(rule: Rule | undefined, rows: RoutedRows): Delivery[] {
  if (rule === undefined) return [];
  const { type, before, after } = rows;
  if (rule === '*') return [{ type, row: type === 'delete' ? (before ?? null) : after, to: '*' }];
  if (type === 'insert') return nonEmpty([{ type, row: after, to: [...owners(after, rule)] }]);
  if (type === 'delete') return nonEmpty([{ type, row: before ?? null, to: [...owners(before, rule)] }]);
  const now = owners(after, rule);
  // Old row unknown: only who reaches the new row, as an update.
  if (before === undefined) return nonEmpty([{ type, row: after, to: [...now] }]);
  const was = owners(before, rule);
  const stayed: string[] = [];
  const entered: string[] = [];
  const left: string[] = [];
  for (const id of now) (was.has(id) ? stayed : entered).push(id);
  for (const id of was) if (!now.has(id)) left.push(id);
  return nonEmpty([
    { type: 'update', row: after, to: stayed },
    { type: 'insert', row: after, to: entered },
    { type: 'delete', row: before, to: left },
  ]);
}

function nonEmpty(ds: Delivery[]): Delivery[] {
  return ds.filter((d) => d.to === '*' || d.to.length > 0);
}
