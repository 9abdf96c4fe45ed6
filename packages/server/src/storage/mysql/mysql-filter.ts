/**
 * Compiles a parsed filter (protocol/src/filter.ts) to a MySQL/MariaDB boolean
 * expression over a JSON `data` column, `id` and `version`, with the same
 * semantics as the PostgreSQL compile (filter-sql.ts) and `matchFilter`:
 * typed equality (30 ≠ "30", no array-element matching, objects equal
 * whatever their key order), `null` matches null or missing, range operators
 * compare numbers with numbers and strings with strings by code point
 * (utf8mb4_bin), dotted paths never index arrays (every segment is a quoted
 * member name).
 *
 * Placeholders are positional (`?`): every piece of SQL is built left to
 * right and pushes its parameters as it is written, so a path used twice is
 * bound twice. Every value and path is a parameter. Each leaf never yields
 * NULL, so NOT (for $ne/$nin) is a plain negation.
 */
import type { Filter } from '@syncline/protocol';

export interface MysqlFilterColumns {
  data: string;
  id: string;
  version: string;
}

const COMPARE_SQL: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };
/** JSON_TYPE names of numbers (MariaDB: INTEGER, DOUBLE; MySQL 8 adds the others). */
export const NUMBER_TYPES = `('INTEGER', 'DOUBLE', 'DECIMAL', 'UNSIGNED INTEGER')`;

/** A JSON path of quoted member names (segments are [A-Za-z0-9_-], checked by parseFilter / parseSort). */
export const jsonPath = (segments: string[]) => `$${segments.map((s) => `."${s}"`).join('')}`;

function isOperatorObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  const dollar = keys.filter((k) => k.startsWith('$')).length;
  if (dollar > 0 && dollar !== keys.length) throw new Error(`compileMysqlFilter: mixed operator object (parse filters first)`);
  return dollar > 0;
}

class Compiler {
  constructor(
    private readonly params: unknown[],
    private readonly cols: MysqlFilterColumns,
    private readonly flavor: 'mariadb' | 'mysql',
  ) {}

  private p(value: unknown): string {
    this.params.push(value);
    return '?';
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
        throw new Error(`compileMysqlFilter: unknown operator (parse filters first)`);
      } else {
        parts.push(this.field(key, value));
      }
    }
    if (parts.length === 0) return 'TRUE';
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`;
  }

  private field(path: string, cond: unknown): string {
    const ops: [string, unknown][] = isOperatorObject(cond) ? Object.entries(cond) : [['$eq', cond]];
    const leaf =
      path === '_id'
        ? (op: string, operand: unknown) => this.column(this.cols.id, op, operand)
        : path === '_rev'
          ? (op: string, operand: unknown) => this.column(this.cols.version, op, operand)
          : (op: string, operand: unknown) => this.json(jsonPath(path.split('.')), op, operand);
    const sql = ops.map(([op, operand]) => leaf(op, operand));
    return sql.length === 1 ? (sql[0] as string) : `(${sql.join(' AND ')})`;
  }

  /** The value at `path` as JSON, NULL when missing; binds the path each time it is written. */
  private at(path: string): string {
    return `JSON_EXTRACT(${this.cols.data}, ${this.p(path)})`;
  }

  /** True iff the value at `path` equals `lit` (never NULL). */
  private eq(path: string, lit: unknown): string {
    if (lit === null) return `(${this.at(path)} IS NULL OR JSON_TYPE(${this.at(path)}) = 'NULL')`;
    if (typeof lit === 'string') {
      return `COALESCE(JSON_TYPE(${this.at(path)}) = 'STRING' AND JSON_UNQUOTE(${this.at(path)}) COLLATE utf8mb4_bin = ${this.p(lit)}, FALSE)`;
    }
    if (typeof lit === 'number') {
      return `COALESCE(JSON_TYPE(${this.at(path)}) IN ${NUMBER_TYPES} AND JSON_UNQUOTE(${this.at(path)}) + 0 = ${this.p(lit)}, FALSE)`;
    }
    if (typeof lit === 'boolean') {
      return `COALESCE(JSON_TYPE(${this.at(path)}) = 'BOOLEAN' AND JSON_UNQUOTE(${this.at(path)}) = ${this.p(String(lit))}, FALSE)`;
    }
    // Arrays and objects: structural equality (key order ignored, number formats normalized).
    const json = JSON.stringify(lit);
    return this.flavor === 'mariadb'
      ? `COALESCE(JSON_EQUALS(${this.at(path)}, ${this.p(json)}), FALSE)`
      : `COALESCE(${this.at(path)} = CAST(${this.p(json)} AS JSON), FALSE)`;
  }

  private json(path: string, op: string, operand: unknown): string {
    const inList = (list: unknown[]) => `(${list.map((x) => this.eq(path, x)).join(' OR ')})`;
    switch (op) {
      case '$eq':
        return this.eq(path, operand);
      case '$ne':
        return `(NOT ${this.eq(path, operand)})`;
      case '$in':
        return (operand as unknown[]).length === 0 ? 'FALSE' : inList(operand as unknown[]);
      case '$nin':
        return (operand as unknown[]).length === 0 ? 'TRUE' : `(NOT ${inList(operand as unknown[])})`;
      case '$exists':
        return operand === true ? `(${this.at(path)} IS NOT NULL)` : `(${this.at(path)} IS NULL)`;
    }
    const cmp = COMPARE_SQL[op];
    if (cmp === undefined) throw new Error(`compileMysqlFilter: unknown operator (parse filters first)`);
    // CASE, not AND: the comparison must only see values of the operand's type.
    if (typeof operand === 'number') {
      return `(CASE WHEN JSON_TYPE(${this.at(path)}) IN ${NUMBER_TYPES} THEN JSON_UNQUOTE(${this.at(path)}) + 0 ${cmp} ${this.p(operand)} ELSE FALSE END)`;
    }
    if (typeof operand === 'string') {
      return `(CASE WHEN JSON_TYPE(${this.at(path)}) = 'STRING' THEN JSON_UNQUOTE(${this.at(path)}) COLLATE utf8mb4_bin ${cmp} ${this.p(operand)} ELSE FALSE END)`;
    }
    throw new Error(`compileMysqlFilter: ${op} takes a number or a string (parse filters first)`);
  }

  /** `_id` / `_rev`: plain NOT NULL columns (utf8mb4_bin / integer), written so their indexes stay usable. */
  private column(col: string, op: string, operand: unknown): string {
    switch (op) {
      case '$eq':
        return `(${col} = ${this.p(operand)})`;
      case '$ne':
        return `(${col} <> ${this.p(operand)})`;
      case '$in':
        return (operand as unknown[]).length === 0 ? 'FALSE' : `(${col} IN (${(operand as unknown[]).map((v) => this.p(v)).join(', ')}))`;
      case '$nin':
        return (operand as unknown[]).length === 0
          ? 'TRUE'
          : `(${col} NOT IN (${(operand as unknown[]).map((v) => this.p(v)).join(', ')}))`;
      case '$exists':
        return operand === true ? 'TRUE' : 'FALSE';
    }
    const cmp = COMPARE_SQL[op];
    if (cmp === undefined) throw new Error(`compileMysqlFilter: unknown operator (parse filters first)`);
    return `(${col} ${cmp} ${this.p(operand)})`;
  }
}

/**
 * Returns a SQL boolean expression for `filter`, appending its bind values to
 * `params` in placeholder order. `cols` are trusted and written as given.
 */
export function compileMysqlFilter(filter: Filter, params: unknown[], cols: MysqlFilterColumns, flavor: 'mariadb' | 'mysql'): string {
  return new Compiler(params, cols, flavor).filter(filter);
}
