/**
 * Compiles a parsed filter (see protocol/src/filter.ts for the semantics) to a
 * PostgreSQL boolean expression over `data jsonb`, `id text`, `version int`.
 * Must agree exactly with `matchFilter`; test/filter-sql.test.ts checks both
 * against the same documents.
 *
 * Every value and every path from the filter is a bind parameter; only the
 * caller's column names and fixed SQL are written into the text.
 * Each leaf is built to never yield NULL, so NOT (for $ne/$nin) is a plain negation.
 */
import type { Filter } from '@syncline/protocol';

export interface FilterColumns {
  data: string;
  id: string;
  version: string;
}

const DEFAULT_COLUMNS: FilterColumns = { data: 'data', id: 'id', version: 'version' };

// `#>` treats integer-looking path elements as array indexes; filters never index arrays.
const ARRAY_INDEX = /^-?[0-9]+$/;

type Access = { json: string; text: string };

const COMPARE_SQL: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };

function isOperatorObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  const dollar = keys.filter((k) => k.startsWith('$')).length;
  if (dollar > 0 && dollar !== keys.length) throw new Error(`compileFilter: mixed operator object (parse filters first)`);
  return dollar > 0;
}

class Compiler {
  constructor(
    private readonly params: unknown[],
    private readonly cols: FilterColumns,
  ) {}

  private param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  filter(filter: Filter): string {
    const parts: string[] = [];
    for (const key of Object.keys(filter)) {
      const value = filter[key];
      if (key === '$and' || key === '$or') {
        const subs = (value as Filter[]).map((f) => this.filter(f));
        if (subs.length === 0) parts.push(key === '$and' ? 'TRUE' : 'FALSE');
        else parts.push(`(${subs.join(key === '$and' ? ' AND ' : ' OR ')})`);
      } else if (key.startsWith('$')) {
        // Never drop a condition silently: that would widen the result.
        throw new Error(`compileFilter: unknown operator (parse filters first)`);
      } else {
        parts.push(this.field(key, value));
      }
    }
    if (parts.length === 0) return 'TRUE';
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`;
  }

  private field(path: string, cond: unknown): string {
    const ops: [string, unknown][] = isOperatorObject(cond) ? Object.entries(cond) : [['$eq', cond]];
    let leaf: (op: string, operand: unknown) => string;
    if (path === '_id') leaf = (op, operand) => this.column(this.cols.id, 'text', op, operand);
    else if (path === '_rev') leaf = (op, operand) => this.column(this.cols.version, 'bigint', op, operand);
    else {
      // Lazy: a leaf that needs no field access (empty $in) must not leave an unused parameter.
      let access: Access | undefined;
      const get = (): Access => (access ??= this.accessor(path.split('.')));
      leaf = (op, operand) => this.json(get, op, operand);
    }
    const sql = ops.map(([op, operand]) => leaf(op, operand));
    return sql.length === 1 ? (sql[0] as string) : `(${sql.join(' AND ')})`;
  }

  /** jsonb and text expressions for a path; NULL when the field is missing. */
  private accessor(segments: string[]): Access {
    const { data } = this.cols;
    const p = this.param(segments);
    const guards: string[] = [];
    for (let i = 1; i < segments.length; i++) {
      if (ARRAY_INDEX.test(segments[i] as string)) {
        guards.push(`jsonb_typeof(${data} #> ${this.param(segments.slice(0, i))}::text[]) = 'object'`);
      }
    }
    if (guards.length === 0) return { json: `(${data} #> ${p}::text[])`, text: `(${data} #>> ${p}::text[])` };
    const g = guards.join(' AND ');
    return {
      json: `(CASE WHEN ${g} THEN ${data} #> ${p}::text[] END)`,
      text: `(CASE WHEN ${g} THEN ${data} #>> ${p}::text[] END)`,
    };
  }

  private json(get: () => Access, op: string, operand: unknown): string {
    if ((op === '$in' || op === '$nin') && (operand as unknown[]).length === 0) return op === '$in' ? 'FALSE' : 'TRUE';
    const v = get();
    const j = v.json;
    const eq = (lit: unknown): string =>
      lit === null ? `(${j} IS NULL OR ${j} = 'null'::jsonb)` : `COALESCE(${j} = ${this.param(JSON.stringify(lit))}::jsonb, FALSE)`;
    const inList = (list: unknown[]): string => {
      const values = list.filter((x) => x !== null).map((x) => JSON.stringify(x));
      const terms: string[] = [];
      if (values.length > 0) terms.push(`COALESCE(${j} = ANY(${this.param(values)}::jsonb[]), FALSE)`);
      if (values.length < list.length) terms.push(`${j} IS NULL`, `${j} = 'null'::jsonb`);
      return `(${terms.join(' OR ')})`;
    };
    switch (op) {
      case '$eq':
        return eq(operand);
      case '$ne':
        return `(NOT ${eq(operand)})`;
      case '$in':
        return inList(operand as unknown[]);
      case '$nin':
        return `(NOT ${inList(operand as unknown[])})`;
      case '$exists':
        return operand === true ? `(${j} IS NOT NULL)` : `(${j} IS NULL)`;
    }
    const cmp = COMPARE_SQL[op];
    if (cmp === undefined) throw new Error(`compileFilter: unknown operator (parse filters first)`);
    // CASE, not AND: PostgreSQL may evaluate AND operands in any order, and the cast fails on non-numbers.
    if (typeof operand === 'number') {
      return `(CASE WHEN jsonb_typeof(${j}) = 'number' THEN ${j}::numeric ${cmp} ${this.param(operand)}::numeric ELSE FALSE END)`;
    }
    if (typeof operand === 'string') {
      return `(CASE WHEN jsonb_typeof(${j}) = 'string' THEN ${v.text} COLLATE "C" ${cmp} ${this.param(operand)}::text ELSE FALSE END)`;
    }
    throw new Error(`compileFilter: ${op} takes a number or a string (parse filters first)`);
  }

  /** `_id` / `_rev`: plain NOT NULL columns, written so their indexes stay usable. */
  private column(col: string, type: 'text' | 'bigint', op: string, operand: unknown): string {
    const collate = type === 'text' ? ' COLLATE "C"' : '';
    switch (op) {
      case '$eq':
        return `(${col} = ${this.param(operand)}::${type})`;
      case '$ne':
        return `(${col} <> ${this.param(operand)}::${type})`;
      case '$in':
        return `(${col} = ANY(${this.param(operand)}::${type}[]))`;
      case '$nin':
        return `(NOT (${col} = ANY(${this.param(operand)}::${type}[])))`;
      case '$exists':
        return operand === true ? 'TRUE' : 'FALSE';
    }
    const cmp = COMPARE_SQL[op];
    if (cmp === undefined) throw new Error(`compileFilter: unknown operator (parse filters first)`);
    return `(${col}${collate} ${cmp} ${this.param(operand)}::${type})`;
  }
}

/**
 * Returns a SQL boolean expression for `filter`, appending its bind values to
 * `params` (placeholders continue from `params.length`). `cols` may be
 * qualified (`d.data`); they are trusted and written as given.
 */
export function compileFilter(filter: Filter, params: unknown[], cols: FilterColumns = DEFAULT_COLUMNS): string {
  return new Compiler(params, cols).filter(filter);
}
