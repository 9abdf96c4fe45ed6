/**
 * The query filter language: a MongoDB-style subset shared by the REST query
 * endpoint (compiled to SQL on the server, see server/src/storage/filter-sql.ts)
 * and by live subscriptions and the client (evaluated here by `matchFilter`).
 * The two must agree exactly; the server's filter-sql test checks that on PGlite.
 *
 * Semantics in brief:
 * - `{a: v}` / `{a: {$eq: v}}`: deep JSON equality (object key order ignored).
 *   `null` matches a null OR missing field. There is no array-element matching:
 *   `{tags: 'x'}` does not match `tags: ['x']` (only `{tags: ['x']}` does).
 * - `$ne` / `$nin` are the exact negations of `$eq` / `$in`, so they match missing fields
 *   (unless null is the operand / in the list).
 * - `$gt $gte $lt $lte` only match a number against a number or a string against a
 *   string; strings compare by Unicode code point (SQL: COLLATE "C").
 * - `$exists`: a present null counts as present.
 * - Dotted paths traverse nested objects only, never arrays.
 * - `_id` (string) and `_rev` (integer) address the document id and revision.
 */
import { INVALID_TEXT_MESSAGE, isStorableText } from './text.js';

/** A JSON value as it may appear in a filter literal. */
export type FilterLiteral = null | boolean | number | string | FilterLiteral[] | { [key: string]: FilterLiteral };

export interface FilterOperators {
  $eq?: FilterLiteral;
  $ne?: FilterLiteral;
  $gt?: number | string;
  $gte?: number | string;
  $lt?: number | string;
  $lte?: number | string;
  $in?: FilterLiteral[];
  $nin?: FilterLiteral[];
  $exists?: boolean;
}

/** A field's condition: a literal (implicit `$eq`) or an object of operators. */
export type FilterCondition = FilterLiteral | FilterOperators;

export type Filter = {
  $and?: Filter[];
  $or?: Filter[];
  [path: string]: FilterCondition | Filter[] | undefined;
};

/** The document shape filters are evaluated against (the wire shape). */
export type FilterDocument = { _id: string; _rev: number; [key: string]: unknown };

export const FILTER_LIMITS = {
  /** Nesting of filter objects through `$and`/`$or`; the top level is depth 1. */
  maxDepth: 8,
  /** Leaf conditions (each operator, each implicit equality, each empty sub-filter). */
  maxConditions: 100,
  maxInValues: 1000,
  maxPathSegments: 8,
  /** Nesting of arrays/objects inside one literal value; bounds recursion on hostile input. */
  maxLiteralDepth: 32,
} as const;

export const FILTER_OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export type FilterErrorReason = 'UNKNOWN_OPERATOR' | 'INVALID_FILTER' | 'INVALID_TEXT';

export class FilterError extends Error {
  /** Where the problem is, like `filter.price.$foo` or `filter.$or.1.name`. */
  readonly path: string;
  /** Matches the error codes of the same names. */
  readonly reason: FilterErrorReason;

  constructor(reason: FilterErrorReason, path: string, message: string) {
    super(message);
    this.name = 'FilterError';
    this.reason = reason;
    this.path = path;
  }
}

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const RESERVED_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
const OPERATOR_SET: ReadonlySet<string> = new Set(FILTER_OPERATORS);
const COMPARISONS: ReadonlySet<string> = new Set(['$gt', '$gte', '$lt', '$lte']);
// NUL and lone surrogates cannot be stored or passed as text by PostgreSQL, so JS and SQL would disagree on them.
const badString = (s: string): boolean => !isStorableText(s);
const KEY_TEXT_MESSAGE = 'keys may not contain U+0000 (NUL) or unpaired UTF-16 surrogates';

type FieldKind = 'field' | 'id' | 'rev';
type PathPart = string | number;

class Issue {
  constructor(
    readonly reason: FilterErrorReason,
    readonly parts: PathPart[],
    readonly message: string,
  ) {}
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Operator object: a plain object with at least one key, all starting with `$`.
 * Mixed objects are an error; anything else is a literal (`{}` included).
 */
function classify(v: unknown): 'operators' | 'literal' | 'mixed' {
  if (!isPlainObject(v)) return 'literal';
  const keys = Object.keys(v);
  const dollar = keys.filter((k) => k.startsWith('$')).length;
  if (dollar === 0) return 'literal';
  return dollar === keys.length ? 'operators' : 'mixed';
}

function display(key: string): string {
  return key.length > 80 ? `${key.slice(0, 80)}…` : key;
}

class Checker {
  conditions = 0;

  filter(input: unknown, parts: PathPart[], depth: number): void {
    if (!isPlainObject(input)) throw new Issue('INVALID_FILTER', parts, 'a filter must be a JSON object');
    if (depth > FILTER_LIMITS.maxDepth) {
      throw new Issue('INVALID_FILTER', parts, `filters may nest at most ${FILTER_LIMITS.maxDepth} levels deep`);
    }
    const keys = Object.keys(input);
    // An empty sub-filter still costs SQL, so it counts; the empty top-level filter does not.
    if (keys.length === 0 && depth > 1) this.count(parts);
    for (const key of keys) {
      if (badString(key)) throw new Issue('INVALID_TEXT', parts, KEY_TEXT_MESSAGE);
      const value = input[key];
      const here = [...parts, display(key)];
      if (key === '$and' || key === '$or') {
        if (!Array.isArray(value) || value.length === 0) {
          throw new Issue('INVALID_FILTER', here, `${key} takes a non-empty array of filters`);
        }
        for (let i = 0; i < value.length; i++) this.filter(value[i], [...here, i], depth + 1);
      } else if (key.startsWith('$')) {
        throw new Issue('UNKNOWN_OPERATOR', here, `unknown operator ${display(key)} (use $and, $or or a field path)`);
      } else {
        this.field(key, value, here);
      }
    }
  }

  private count(parts: PathPart[]): void {
    if (++this.conditions > FILTER_LIMITS.maxConditions) {
      throw new Issue('INVALID_FILTER', parts, `a filter may have at most ${FILTER_LIMITS.maxConditions} conditions`);
    }
  }

  private field(path: string, cond: unknown, parts: PathPart[]): void {
    const kind = pathKind(path, parts);
    const shape = classify(cond);
    if (shape === 'mixed') {
      throw new Issue('INVALID_FILTER', parts, 'an operator object may not mix $operators and plain keys');
    }
    if (shape === 'literal') {
      this.count(parts);
      this.operand(kind, '$eq', cond, parts);
      return;
    }
    const ops = cond as Record<string, unknown>;
    for (const op of Object.keys(ops)) {
      const here = [...parts, display(op)];
      if (!OPERATOR_SET.has(op)) {
        throw new Issue('UNKNOWN_OPERATOR', here, `unknown operator ${display(op)}; supported: ${FILTER_OPERATORS.join(' ')}`);
      }
      this.count(here);
      this.operand(kind, op, ops[op], here);
    }
  }

  private operand(kind: FieldKind, op: string, v: unknown, parts: PathPart[]): void {
    if (op === '$exists') {
      if (typeof v !== 'boolean') throw new Issue('INVALID_FILTER', parts, '$exists takes true or false');
      return;
    }
    if (op === '$in' || op === '$nin') {
      if (!Array.isArray(v)) throw new Issue('INVALID_FILTER', parts, `${op} takes an array`);
      if (v.length > FILTER_LIMITS.maxInValues) {
        throw new Issue('INVALID_FILTER', parts, `${op} takes at most ${FILTER_LIMITS.maxInValues} values`);
      }
      for (let i = 0; i < v.length; i++) this.scalar(kind, '$eq', v[i], [...parts, i]);
      return;
    }
    this.scalar(kind, op, v, parts);
  }

  private scalar(kind: FieldKind, op: string, v: unknown, parts: PathPart[]): void {
    if (kind === 'id') {
      if (typeof v !== 'string') throw new Issue('INVALID_FILTER', parts, '_id values must be strings');
      if (badString(v)) throw new Issue('INVALID_TEXT', parts, INVALID_TEXT_MESSAGE);
      return;
    }
    if (kind === 'rev') {
      if (!Number.isSafeInteger(v)) throw new Issue('INVALID_FILTER', parts, '_rev values must be integers');
      return;
    }
    if (COMPARISONS.has(op)) {
      if (typeof v === 'string' && badString(v)) throw new Issue('INVALID_TEXT', parts, INVALID_TEXT_MESSAGE);
      const ok = (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string';
      if (!ok) throw new Issue('INVALID_FILTER', parts, `${op} takes a number or a string`);
      return;
    }
    literal(v, parts, 0);
  }
}

function pathKind(path: string, parts: PathPart[]): FieldKind {
  if (path === '_id') return 'id';
  if (path === '_rev') return 'rev';
  const segments = path.split('.');
  if (segments.length > FILTER_LIMITS.maxPathSegments) {
    throw new Issue('INVALID_FILTER', parts, `field paths may have at most ${FILTER_LIMITS.maxPathSegments} segments`);
  }
  for (const seg of segments) {
    if (!SEGMENT.test(seg) || RESERVED_SEGMENTS.has(seg)) {
      throw new Issue(
        'INVALID_FILTER',
        parts,
        'field path segments must match [A-Za-z0-9_-]{1,64} and not be __proto__, constructor or prototype',
      );
    }
  }
  // `_id`/`_rev` are not objects, and the data column never holds them.
  if (segments[0] === '_id' || segments[0] === '_rev') {
    throw new Issue('INVALID_FILTER', parts, `${segments[0]} has no nested fields`);
  }
  return 'field';
}

function literal(v: unknown, parts: PathPart[], depth: number): void {
  if (depth > FILTER_LIMITS.maxLiteralDepth) {
    throw new Issue('INVALID_FILTER', parts, `literal values may nest at most ${FILTER_LIMITS.maxLiteralDepth} levels deep`);
  }
  if (v === null || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Issue('INVALID_FILTER', parts, 'numbers must be finite');
    return;
  }
  if (typeof v === 'string') {
    if (badString(v)) throw new Issue('INVALID_TEXT', parts, INVALID_TEXT_MESSAGE);
    return;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) literal(v[i], [...parts, i], depth + 1);
    return;
  }
  if (isPlainObject(v)) {
    for (const key of Object.keys(v)) {
      const here = [...parts, display(key)];
      // Nested operators are not supported; a `$` key here is almost surely a mistake, not data.
      if (key.startsWith('$')) {
        throw new Issue('INVALID_FILTER', here, 'operators are only allowed directly under a field path; use a dotted path');
      }
      if (badString(key)) throw new Issue('INVALID_TEXT', parts, KEY_TEXT_MESSAGE);
      literal(v[key], here, depth + 1);
    }
    return;
  }
  throw new Issue('INVALID_FILTER', parts, 'values must be JSON');
}

/** The first problem of a filter (reason, path parts below `filter`, message), or undefined when it is valid. */
export function checkFilter(input: unknown): { reason: FilterErrorReason; parts: PathPart[]; message: string } | undefined {
  try {
    new Checker().filter(input, [], 1);
    return undefined;
  } catch (e) {
    if (e instanceof Issue) return e;
    throw e;
  }
}

function toFilterError(issue: Issue): FilterError {
  return new FilterError(issue.reason, ['filter', ...issue.parts].join('.'), issue.message);
}

/**
 * Validates a filter (structure, operators, limits) and returns it unchanged.
 * Throws FilterError; `reason` maps to the UNKNOWN_OPERATOR / INVALID_FILTER / INVALID_TEXT error codes.
 */
export function parseFilter(input: unknown): Filter {
  const issue = checkFilter(input);
  if (issue) throw toFilterError(issue);
  return input as Filter;
}

// ---------------------------------------------------------------------------
// Evaluation

const MISSING: unique symbol = Symbol('missing');
type Resolved = unknown | typeof MISSING;

function isObjectNode(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolve(doc: FilterDocument, path: string): Resolved {
  if (path === '_id') return doc._id;
  if (path === '_rev') return doc._rev;
  let cur: unknown = doc;
  for (const seg of path.split('.')) {
    if (!isObjectNode(cur) || !Object.hasOwn(cur, seg)) return MISSING;
    cur = cur[seg];
  }
  return cur === undefined ? MISSING : cur;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  // Undefined-valued keys do not exist in JSON.
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k], bo[k]));
}

/**
 * Compares strings by Unicode code point, like UTF-8 bytes under COLLATE "C".
 * Plain `<` compares UTF-16 code units, which puts U+10000.. before U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (code points >= U+10000) must sort after U+E000..U+FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

function equalsLiteral(v: Resolved, lit: unknown): boolean {
  if (lit === null) return v === MISSING || v === null;
  return v !== MISSING && jsonEqual(v, lit);
}

/** Sign of v - operand, or undefined when the types are not comparable. */
function order(v: Resolved, operand: unknown): number | undefined {
  if (typeof v === 'number' && typeof operand === 'number') return v < operand ? -1 : v > operand ? 1 : 0;
  if (typeof v === 'string' && typeof operand === 'string') return compareCodePoints(v, operand);
  return undefined;
}

function applyOperator(v: Resolved, op: string, operand: unknown, path: string): boolean {
  switch (op) {
    case '$eq':
      return equalsLiteral(v, operand);
    case '$ne':
      return !equalsLiteral(v, operand);
    case '$in':
      return (operand as unknown[]).some((x) => equalsLiteral(v, x));
    case '$nin':
      return !(operand as unknown[]).some((x) => equalsLiteral(v, x));
    case '$exists':
      return (v !== MISSING) === operand;
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      const o = order(v, operand);
      if (o === undefined) return false;
      return op === '$gt' ? o > 0 : op === '$gte' ? o >= 0 : op === '$lt' ? o < 0 : o <= 0;
    }
    default:
      // Never ignore an operator: dropping a condition would widen the result.
      throw new FilterError('UNKNOWN_OPERATOR', `filter.${path}.${op}`, `unknown operator ${op}`);
  }
}

/** Evaluates a (parsed) filter against a document `{_id, _rev, ...fields}`. */
export function matchFilter(filter: Filter, doc: FilterDocument): boolean {
  for (const key of Object.keys(filter)) {
    const value = filter[key];
    if (key === '$and') {
      if (!(value as Filter[]).every((f) => matchFilter(f, doc))) return false;
    } else if (key === '$or') {
      if (!(value as Filter[]).some((f) => matchFilter(f, doc))) return false;
    } else if (key.startsWith('$')) {
      throw new FilterError('UNKNOWN_OPERATOR', `filter.${key}`, `unknown operator ${key}`);
    } else {
      const v = resolve(doc, key);
      const shape = classify(value);
      if (shape === 'mixed') throw new FilterError('INVALID_FILTER', `filter.${key}`, 'mixed operator object');
      if (shape === 'literal') {
        if (!equalsLiteral(v, value)) return false;
      } else {
        const ops = value as Record<string, unknown>;
        for (const op of Object.keys(ops)) if (!applyOperator(v, op, ops[op], key)) return false;
      }
    }
  }
  return true;
}
