/**
 * Read and write rules per collection (DESIGN invariant 5), declared once in
 * the configuration (`rules`, e.g. in syncline.config.json) and, for esink,
 * from TABLE_AUTH_COLUMN_ROUTING (read rules) and FILTERS (hidden fields).
 *
 * A rule, for a caller, becomes a filter of the query language (packages/
 * protocol/src/filter.ts), so the same rule runs in memory (`matchFilter`)
 * and in SQL (the query compilers) with one meaning.
 *
 *   "*" | true                     everyone (anonymous callers too)
 *   false                          no one
 *   {"field": "ownerId"}           the row's field equals the caller's id
 *   {"fields": ["a", "b"]}         any of these fields equals the caller's id
 *   {"field": "team", "inClaim": "teams"}   the field's value is in the caller's claim list
 *   {"claim": "role", "in": ["admin"]}      the caller's claim is one of these (any row)
 *   {"claim": "admin", "equals": true}      the caller's claim equals this (any row)
 *   {"anyOf": [rule, ...]}, {"allOf": [rule, ...]}
 *
 * Deny by default once any authentication is configured: a collection without
 * a read rule is readable by no one, one without a write rule writable by no
 * one. In open mode (no authentication at all) everything is allowed.
 */
import {
  type Change,
  type ErrorRef,
  errorRef,
  type Filter,
  type FilterDocument,
  type FilterLiteral,
  matchFilter,
  type OperationResult,
  type PushResponse,
} from '@syncline/protocol';
import { z } from 'zod';
import type { Authorize } from '../engine/plan-operations.js';
import { changeFor } from '../engine/subscription-index.js';
import { assertLive, type Identity } from './authenticate.js';
import { ColumnFilters } from './column-filters.js';

export type Rule =
  | '*'
  | boolean
  | { field: string; inClaim?: string }
  | { fields: string[] }
  | { claim: string; in?: FilterLiteral[]; equals?: FilterLiteral }
  | { anyOf: Rule[] }
  | { allOf: Rule[] };

const path = z.string().regex(/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/, 'a field name or dotted path');
const literal: z.ZodType<FilterLiteral> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(literal), z.record(z.string(), literal)]),
);
export const RuleSchema: z.ZodType<Rule> = z.lazy(() =>
  z.union([
    z.literal('*'),
    z.boolean(),
    z.strictObject({ field: path, inClaim: z.string().min(1).optional() }),
    z.strictObject({ fields: z.array(path).min(1).max(16) }),
    z
      .strictObject({ claim: z.string().min(1), in: z.array(literal).optional(), equals: literal.optional() })
      .refine((r) => (r.in === undefined) !== (r.equals === undefined), 'a claim rule needs exactly one of "in" and "equals"'),
    z.strictObject({ anyOf: z.array(RuleSchema).min(1).max(16) }),
    z.strictObject({ allOf: z.array(RuleSchema).min(1).max(16) }),
  ]),
);

export const CollectionRulesSchema = z.strictObject({
  read: RuleSchema.optional(),
  /** One rule for every write, or one per kind of write. */
  write: z
    .union([RuleSchema, z.strictObject({ insert: RuleSchema.optional(), update: RuleSchema.optional(), delete: RuleSchema.optional() })])
    .optional(),
  /** Top-level fields removed from every payload (as FILTERS; a nested path cannot be hidden, so it is refused). */
  hidden: z
    .array(z.string().regex(/^[^.]{1,128}$/, 'a top-level field name (a dotted path cannot be hidden)'))
    .max(256)
    .optional(),
  /** A field the server sets to the caller's id on insert. */
  owner: path.optional(),
  /**
   * Who may set hidden fields (this rule's `hidden` and FILTERS columns), checked like a write rule
   * on the row before and after. Absent: no one, whatever the write rule says (also in open mode).
   */
  writeHidden: RuleSchema.optional(),
});
export type CollectionRules = z.infer<typeof CollectionRulesSchema>;
export const RulesSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a collection name'), CollectionRulesSchema);
export type Rules = z.infer<typeof RulesSchema>;

export type WriteKind = 'insert' | 'update' | 'delete';

/** Matches no document (an empty `$in`). */
export const NOTHING: Filter = { _id: { $in: [] } };
const EVERYTHING: Filter = {};

/** A user id as the values a field may hold: the string, and the number when it is one (in canonical form). */
function idValues(userId: string): FilterLiteral[] {
  const n = Number(userId);
  // Only the canonical form: "007" must not match the number 7 (user "7"'s rows).
  return /^-?\d{1,15}$/.test(userId) && Number.isSafeInteger(n) && String(n) === userId ? [userId, n] : [userId];
}

/** The filter a rule means for this caller. */
export function ruleFilter(rule: Rule | undefined, who: Identity): Filter {
  if (rule === undefined || rule === false) return NOTHING;
  if (rule === '*' || rule === true) return EVERYTHING;
  if ('anyOf' in rule) return { $or: rule.anyOf.map((r) => ruleFilter(r, who)) };
  if ('allOf' in rule) return { $and: rule.allOf.map((r) => ruleFilter(r, who)) };
  if ('claim' in rule) {
    const v = who.claims[rule.claim];
    if (rule.equals !== undefined) return sameLiteral(v, rule.equals) ? EVERYTHING : NOTHING;
    const values = Array.isArray(v) ? v : [v];
    return values.some((x) => (rule.in ?? []).some((y) => sameLiteral(x, y))) ? EVERYTHING : NOTHING;
  }
  if ('fields' in rule) {
    if (who.userId === null) return NOTHING;
    const ids = idValues(who.userId);
    return { $or: rule.fields.map((f) => ({ [f]: { $in: ids } })) };
  }
  if (rule.inClaim !== undefined) {
    const list = who.claims[rule.inClaim];
    const values = (Array.isArray(list) ? list : []).filter((x): x is string | number => typeof x === 'string' || typeof x === 'number');
    return values.length === 0 ? NOTHING : { [rule.field]: { $in: values.flatMap((x) => idValues(String(x))) } };
  }
  if (who.userId === null) return NOTHING;
  return { [rule.field]: { $in: idValues(who.userId) } };
}

function sameLiteral(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Policy {
  /** Hidden fields: FILTERS, the rules' `hidden`, server metadata (column-filters.ts). */
  readonly columns: ColumnFilters;

  constructor(
    private readonly rules: Rules,
    /** Open mode: no authentication configured, so no rule can tell callers apart. */
    readonly open: boolean,
    /** FILTERS (`table.column` specs), hidden like the rules' `hidden` fields. */
    filters: readonly string[] = [],
  ) {
    this.columns = new ColumnFilters([...filters, ...this.hiddenSpecs()]);
  }

  /**
   * Throws HIDDEN_FIELD when a caller's filter or sort names a hidden field.
   * Every read path that takes a filter or a sort asks this before running it
   * (REST query, /sync subscribe); a cursor carries only the sort's values.
   */
  checkQuery(collection: string, query: { filter?: unknown; sort?: unknown }): void {
    this.columns.checkFilter(collection, query.filter);
    this.columns.checkSort(collection, query.sort);
  }

  /** Why `who` may not store `written` (hidden fields without a writeHidden rule, bad stamps), or undefined. */
  private hiddenWrite(
    collection: string,
    who: Identity,
    before: FilterDocument | null,
    after: FilterDocument | null,
    written: Record<string, unknown>,
  ): ErrorRef | undefined {
    const rule = this.rules[collection]?.writeHidden;
    let may = false;
    if (rule !== undefined) {
      const filter = ruleFilter(rule, who);
      may = (!before || matchFilter(filter, before)) && (!after || matchFilter(filter, after));
    }
    // The owner field's value is the server's (prepare), whatever the caller sent.
    return this.columns.writeRefusal(collection, written, may, this.ownerField(collection));
  }

  /** Collections that have rules. */
  collections(): string[] {
    return Object.keys(this.rules);
  }

  /** The read rule of a collection as configured (undefined: none). */
  readRule(collection: string): Rule | undefined {
    return this.rules[collection]?.read;
  }

  /** The filter of what `who` may read in `collection` (EVERYTHING in open mode). */
  readFilter(collection: string, who: Identity): Filter {
    if (this.open) return EVERYTHING;
    return ruleFilter(this.rules[collection]?.read, who);
  }

  canRead(collection: string, who: Identity, doc: FilterDocument): boolean {
    return matchFilter(this.readFilter(collection, who), doc);
  }

  /**
   * Whether `who` may make this write: insert → the new row must pass the
   * rule; delete → the old row; update → both (no one writes a row out of, or
   * into, reach they are not allowed).
   */
  canWrite(collection: string, who: Identity, kind: WriteKind, before: FilterDocument | null, after: FilterDocument | null): boolean {
    if (this.open) return true;
    const w = this.rules[collection]?.write;
    const rule =
      w === undefined || typeof w !== 'object' || !('insert' in w || 'update' in w || 'delete' in w) ? (w as Rule | undefined) : w[kind];
    const filter = ruleFilter(rule, who);
    if (kind !== 'insert' && before && !matchFilter(filter, before)) return false;
    if (kind !== 'delete' && after && !matchFilter(filter, after)) return false;
    return true;
  }

  /**
   * A change as `who` may see it: as is; as an insert when the row entered
   * their reach; as a delete (no data) when it left it; or null. A delete
   * whose old row is unknown reaches only callers who may read the whole
   * collection (nothing else can be known about it).
   */
  visibleChange(change: Change, who: Identity): Change | null {
    if (this.open) return change;
    const filter = this.readFilter(change.collection, who);
    if (Object.keys(filter).length === 0) return change;
    // The same before/after matching as a /sync subscription whose filter holds a read rule.
    return changeFor(change.collection, filter, true, change);
  }

  ownerField(collection: string): string | undefined {
    return this.rules[collection]?.owner;
  }

  /**
   * A result as `who` may see it: a refusal that would show (or confirm) a
   * document they may not read becomes FORBIDDEN, without the document; an
   * applied write keeps its status but not a document they may not read.
   */
  guardResult(r: OperationResult, who: Identity): OperationResult {
    if (this.open || !r.collection) return r;
    // A write may be allowed where reading is not: the applied document is then not shown either.
    if (r.document && !this.canRead(r.collection, who, r.document)) {
      const { document: _doc, ...rest } = r;
      return rest;
    }
    if (!r.serverDocument || this.canRead(r.collection, who, r.serverDocument)) return r;
    const { serverDocument: _doc, vectorClock: _clock, originalStatus: _o, ...rest } = r;
    return { ...rest, status: 'rejected', error: errorRef('FORBIDDEN') };
  }

  /** A push response as `who` may see it (see guardResult); conflicts on unreadable documents are dropped. */
  guardPush(res: PushResponse, who: Identity): PushResponse {
    if (this.open) return res;
    return {
      accepted: res.accepted,
      results: res.results.map((r) => this.guardResult(r, who)),
      conflicts: res.conflicts.filter((c) => !c.serverDocument || this.canRead(c.operation.collection, who, c.serverDocument)),
    };
  }

  /**
   * The write check storages run for `who` on each operation. Every write path
   * (REST, /sync push, /sendActions) decides through it, inside the storage's write: a write that
   * reaches it after `who`'s credential expired fails as a whole with TOKEN_EXPIRED (nothing applied);
   * then the write rule (not in open mode), then hidden fields (in every mode). `shape` keeps the
   * hidden fields a full update does not name.
   */
  authorizer(who: Identity): Authorize {
    const check: Authorize = (kind, collection, before, after, written) => {
      assertLive(who);
      if (!this.canWrite(collection, who, kind, before, after)) return false;
      if (kind === 'delete' || !written) return true;
      return this.hiddenWrite(collection, who, before, after, written) ?? true;
    };
    check.shape = (collection, before, data) => this.columns.shape(collection, before, data);
    return check;
  }

  /**
   * Operations as the server takes them from `who`: inserts and upserts into a
   * collection with an owner field get the caller's id there, whatever they sent.
   */
  prepare<T>(operations: T[], who: Identity): T[] {
    if (this.open || who.userId === null) return operations;
    return operations.map((raw) => {
      const op = raw as { type?: unknown; collection?: unknown; data?: unknown };
      if (op === null || typeof op !== 'object' || (op.type !== 'insert' && op.type !== 'upsert')) return raw;
      const owner = typeof op.collection === 'string' ? this.ownerField(op.collection) : undefined;
      if (!owner || typeof op.data !== 'object' || op.data === null || Array.isArray(op.data)) return raw;
      return { ...op, data: { ...(op.data as Record<string, unknown>), [owner]: who.userId } } as T;
    });
  }

  /** `table.column` specs of the rules' hidden fields (ColumnFilters adds FILTERS and server metadata). */
  hiddenSpecs(): string[] {
    return Object.entries(this.rules).flatMap(([c, r]) => (r.hidden ?? []).map((f) => `${c}.${f}`));
  }
}

/** A filter restricted by a rule filter: one object when they share no key (so a group stays indexable), else `$and`. */
export function withRule(filter: Filter, rule: Filter): Filter {
  if (Object.keys(rule).length === 0) return filter;
  const shared = Object.keys(rule).some((k) => k in filter);
  return shared ? { $and: [filter, rule] } : { ...filter, ...rule };
}

/** esink's TABLE_AUTH_COLUMN_ROUTING as read rules (`"*"`, or any of the columns equals the user id). */
export function routingRules(routing: Record<string, '*' | string[]>): Rules {
  const out: Rules = {};
  for (const [table, v] of Object.entries(routing)) out[table] = { read: v === '*' ? '*' : { fields: v } };
  return out;
}

/** Configured rules with esink's routing filling collections that have no read rule of their own. */
export function mergeRules(rules: Rules, routing: Record<string, '*' | string[]>): Rules {
  const out: Rules = { ...rules };
  for (const [c, r] of Object.entries(routingRules(routing))) out[c] = { ...r, ...out[c], read: out[c]?.read ?? r.read };
  return out;
}
