/**
 * Table collections on PostgreSQL and PGlite: introspection of the TABLE_NAMES
 * tables, installation (and removal) of their capture triggers, and the
 * PostgreSQL dialect of table writes (table-writes.ts).
 *
 * The triggers are the statement-level `capture_table_*` functions of
 * migration 2, attached with the collection and key column as arguments, and
 * named `<schema>_capture_*`, so several Syncline schemas can watch one
 * database and each finds (and removes) only its own.
 */
import { SynclineError } from '@syncline/protocol';
import { quoteIdent, type SqlClient, type SqlQueryable } from './sql-client.js';
import type { TableConfig, UninstalledCapture } from './storage.js';
import type { ConstraintKind, RowState, TableColumn, TableDialect, TableInfo } from './table-writes.js';

const INTEGER_KEYS = new Set(['int2', 'int4', 'int8']);
const TEXT_KEYS = new Set(['text', 'varchar', 'bpchar', 'uuid', 'citext']);
const EVENTS = [
  { suffix: 'insert', sql: 'AFTER INSERT', transition: 'REFERENCING NEW TABLE AS new_rows' },
  { suffix: 'update', sql: 'AFTER UPDATE', transition: 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows' },
  { suffix: 'delete', sql: 'AFTER DELETE', transition: 'REFERENCING OLD TABLE AS old_rows' },
  { suffix: 'truncate', sql: 'BEFORE TRUNCATE', transition: '' },
] as const;

export interface PgTableInfo extends TableInfo {
  /** Schema-qualified, quoted name for SQL. */
  qualified: string;
  oid: number;
}

interface ColumnRow {
  oid: number;
  relname: string;
  attname: string;
  sqltype: string;
  typname: string;
  nullable: boolean;
  has_default: boolean;
  generated: boolean;
  is_pk: boolean;
  pk_columns: number;
}

/** Reads the configured tables' columns and keys; fails with INVALID_CONFIG for a missing or unsupported table. */
export async function introspectTables(q: SqlQueryable, config: TableConfig): Promise<Map<string, PgTableInfo>> {
  const tables = new Map<string, PgTableInfo>();
  if (config.names.length === 0) return tables;
  const { rows } = await q.query<ColumnRow>(
    `SELECT c.oid::integer AS oid, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS sqltype, t.typname,
            NOT a.attnotnull AS nullable, (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default,
            a.attgenerated <> '' AS generated,
            coalesce(a.attnum = ANY (i.indkey), false) AS is_pk, coalesce(i.indnatts, 0)::integer AS pk_columns
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND (c.relname = ANY ($2::text[]) OR c.relname = ANY ($3::text[]))
     ORDER BY c.relname, a.attnum`,
    [config.schema, config.names, config.names.map((n) => n.toLowerCase())],
  );
  const problems: string[] = [];
  for (const name of config.names) {
    // The exact name first (a quoted mixed-case table), else the folded one (an unquoted CREATE TABLE).
    let cols = rows.filter((r) => r.relname === name);
    if (cols.length === 0) cols = rows.filter((r) => r.relname === name.toLowerCase());
    if (cols.length === 0) {
      problems.push(`TABLE_NAMES: no table ${JSON.stringify(name)} in schema ${JSON.stringify(config.schema)}`);
      continue;
    }
    const keys = cols.filter((c) => c.is_pk);
    const key = keys[0];
    if (!key || keys.length !== 1 || key.pk_columns !== 1) {
      problems.push(`TABLE_NAMES: table ${JSON.stringify(name)} needs a single-column primary key`);
      continue;
    }
    const pkKind = INTEGER_KEYS.has(key.typname) ? 'integer' : TEXT_KEYS.has(key.typname) ? 'text' : undefined;
    if (!pkKind) {
      problems.push(`TABLE_NAMES: table ${JSON.stringify(name)} has a ${key.sqltype} key; keys must be integers, text or uuid`);
      continue;
    }
    const columns = new Map<string, TableColumn>();
    for (const c of cols) {
      // Generated columns cannot be written: leaving them out makes writing one an UNKNOWN_COLUMN.
      if (!c.generated) columns.set(c.attname, { name: c.attname, type: c.sqltype, nullable: c.nullable, hasDefault: c.has_default });
    }
    tables.set(name, {
      collection: name,
      table: key.relname,
      qualified: `${quoteIdent(config.schema)}.${quoteIdent(key.relname)}`,
      oid: key.oid,
      pk: key.attname,
      pkKind,
      pkGenerated: key.has_default,
      columns,
    });
  }
  if (problems.length > 0) throw new SynclineError('INVALID_CONFIG', problems.join('; '), { problems });
  return tables;
}

const literal = (v: string) => `'${v.replaceAll("'", "''")}'`;

/** The insert capture function of one table: generated, so it reads the key column directly. */
const insertFunction = (s: string, collection: string) => `${s}.${quoteIdent(`capture_insert_${collection}`)}`;

function insertFunctionSql(s: string, t: PgTableInfo): string {
  const setting = (what: string) => `nullif(current_setting('${s}.${what}', true), '')`;
  // Inlined (no helper calls): this runs once per INSERT statement on the table.
  return `CREATE OR REPLACE FUNCTION ${insertFunction(s, t.collection)}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n0 integer := coalesce(${setting('pending')}, '0')::integer;
  api boolean := coalesce(${setting('api')}, '') = 'on';
  cnt integer;
BEGIN
  -- One change-log row per statement: its keys, in ords n0+1 .. n0+cnt (migration 2).
  INSERT INTO ${s}.changes (tx, ord, collection, doc_id, type, data, version, vclock, op_id, client_id, source, ids)
  SELECT pg_current_xact_id(), n0 + count(*), ${literal(t.collection)}, (array_agg(k))[1], 'insert', NULL, 1, '{}',
         CASE WHEN api THEN ${setting('op')} END, CASE WHEN api THEN ${setting('client')} END,
         CASE WHEN api THEN 'api' ELSE 'database' END, array_agg(k)
  FROM (SELECT n.${quoteIdent(t.pk)}::text AS k FROM new_rows n) r
  HAVING count(*) > 0
  RETURNING ord - n0 INTO cnt;
  IF cnt > 0 THEN
    PERFORM set_config('${s}.pending', (n0 + cnt)::text, true);
    IF n0 = 0 THEN
      INSERT INTO ${s}.open_tx (tx, api) VALUES (pg_current_xact_id(), api);
    END IF;
  END IF;
  RETURN NULL;
END $fn$;`;
}

/**
 * Installs the capture triggers on the configured tables and drops this
 * schema's triggers from tables no longer configured (forgetting their row
 * versions), in one transaction under the migration lock.
 */
export async function installTableCapture(db: SqlClient, s: string, config: TableConfig): Promise<Map<string, PgTableInfo>> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))", [`${s}.migrate`]);
    const tables = await introspectTables(tx, config);
    const prefix = `${s}_capture_`;
    const { rows: installed } = await tx.query<{ oid: number; rel: string; tgname: string; args: string }>(
      `SELECT t.tgrelid::integer AS oid, t.tgrelid::regclass::text AS rel, t.tgname,
              encode(t.tgargs, 'escape') AS args
       FROM pg_trigger t WHERE NOT t.tgisinternal AND left(t.tgname, length($1)) = $1`,
      [prefix],
    );
    const wanted = new Map([...tables.values()].map((t) => [t.oid, t]));
    const ddl: string[] = [];
    const forgotten = new Set<string>();
    for (const tr of installed) {
      const t = wanted.get(tr.oid);
      // Arguments are NUL-terminated (collection, key): a renamed key column means re-creating.
      const args = tr.args.split('\\000').filter((a) => a !== '');
      if (!t || args[0] !== t.collection || args[1] !== t.pk) {
        ddl.push(`DROP TRIGGER ${quoteIdent(tr.tgname)} ON ${tr.rel};`);
        if (args[0] && !tables.has(args[0])) {
          forgotten.add(args[0]);
          if (tr.tgname === `${prefix}insert`) ddl.push(`DROP FUNCTION IF EXISTS ${insertFunction(s, args[0])}();`);
        }
      }
    }
    const present = new Set(installed.map((tr) => `${tr.oid}:${tr.tgname}`));
    for (const t of tables.values()) {
      // Re-created at every start: its body names the key column, which may have changed.
      ddl.push(`${insertFunctionSql(s, t)};`);
      for (const e of EVENTS) {
        const name = `${prefix}${e.suffix}`;
        const current = installed.find((tr) => tr.oid === t.oid && tr.tgname === name);
        const args = current?.args.split('\\000').filter((a) => a !== '');
        if (present.has(`${t.oid}:${name}`) && args?.[0] === t.collection && args[1] === t.pk) continue;
        ddl.push(
          `CREATE TRIGGER ${quoteIdent(name)} ${e.sql} ON ${t.qualified} ${e.transition} FOR EACH STATEMENT
           EXECUTE FUNCTION ${e.suffix === 'insert' ? insertFunction(s, t.collection) : `${s}.capture_table_${e.suffix}`}(${literal(t.collection)}, ${literal(t.pk)});`,
        );
      }
    }
    if (ddl.length > 0) await tx.exec(ddl.join('\n'));
    if (forgotten.size > 0) {
      await tx.query(`DELETE FROM ${s}.row_versions WHERE collection = ANY ($1::text[])`, [[...forgotten]]);
    }
    return tables;
  });
}

/**
 * Removes this schema's capture triggers from every table of the database and
 * the per-table insert functions (even one whose trigger is already gone), and
 * forgets the row versions they kept, in one transaction under the migration lock.
 */
export async function uninstallTableCapture(db: SqlClient, s: string): Promise<UninstalledCapture> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(hashtext($1))", [`${s}.migrate`]);
    const { rows: triggers } = await tx.query<{ rel: string; tgname: string }>(
      `SELECT t.tgrelid::regclass::text AS rel, t.tgname FROM pg_trigger t
       WHERE NOT t.tgisinternal AND left(t.tgname, length($1)) = $1 ORDER BY 1, 2`,
      [`${s}_capture_`],
    );
    const { rows: functions } = await tx.query<{ fn: string }>(
      `SELECT p.oid::regprocedure::text AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = $1 AND left(p.proname, length('capture_insert_')) = 'capture_insert_' ORDER BY 1`,
      [s],
    );
    const ddl = [
      ...triggers.map((t) => `DROP TRIGGER ${quoteIdent(t.tgname)} ON ${t.rel};`),
      ...functions.map((f) => `DROP FUNCTION ${f.fn};`),
    ];
    if (ddl.length > 0) await tx.exec(ddl.join('\n'));
    // Only table rows have row versions (documents keep theirs in their own column); a schema never migrated has none.
    const { rows: rv } = await tx.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${s}.row_versions`]);
    if (rv[0]?.ok) await tx.query(`DELETE FROM ${s}.row_versions`);
    return { triggers: triggers.map((t) => ({ table: t.rel, trigger: t.tgname })), functions: functions.map((f) => f.fn) };
  });
}

/** SQLSTATEs of constraint violations and of values a column rejects. */
const CONSTRAINT_KINDS: Record<string, ConstraintKind> = {
  '23503': 'foreign_key',
  '23505': 'unique',
  '23502': 'not_null',
  '23514': 'check',
  '23P01': 'check',
};

/** The PostgreSQL dialect of table writes; values are bound as parameters cast to each column's type. */
export function pgTableDialect(s: string): TableDialect<SqlQueryable> {
  const cast = (t: TableInfo, column: string) => (t.columns.get(column) as TableColumn).type;
  const bind = (t: TableInfo, column: string, v: unknown) => {
    const type = cast(t, column);
    // json columns take the value's JSON text; other objects are passed as is and rejected by the cast if wrong.
    return v !== null && (type === 'json' || type === 'jsonb') ? JSON.stringify(v) : v;
  };
  const table = (t: TableInfo) => (t as PgTableInfo).qualified;
  const key = (t: TableInfo, n: number) => `t.${quoteIdent(t.pk)} = $${n}::${cast(t, t.pk)}`;
  return {
    async readRow(q, t, id, lock = true) {
      const { rows } = await q.query<RowState>(
        `SELECT to_jsonb(t.*) AS data, coalesce(v.version, 1) AS version FROM ${table(t)} t
         LEFT JOIN ${s}.row_versions v ON v.collection = $2 AND v.id = $1
         WHERE ${key(t, 1)} ${lock ? 'FOR UPDATE OF t' : ''}`,
        [id, t.collection],
      );
      return rows[0] ?? null;
    },
    async insertRow(q, t, values) {
      const cols = Object.keys(values);
      const params = cols.map((c) => bind(t, c, values[c]));
      const sql =
        cols.length === 0
          ? `INSERT INTO ${table(t)} AS t DEFAULT VALUES RETURNING to_jsonb(t.*) AS row`
          : `INSERT INTO ${table(t)} AS t (${cols.map(quoteIdent).join(', ')})
             VALUES (${cols.map((c, i) => `$${i + 1}::${cast(t, c)}`).join(', ')}) RETURNING to_jsonb(t.*) AS row`;
      const { rows } = await q.query<{ row: Record<string, unknown> }>(sql, params);
      return (rows[0] as { row: Record<string, unknown> }).row;
    },
    async updateRow(q, t, id, values) {
      const cols = Object.keys(values);
      const set =
        cols.length === 0
          ? `${quoteIdent(t.pk)} = t.${quoteIdent(t.pk)}`
          : cols.map((c, i) => `${quoteIdent(c)} = $${i + 2}::${cast(t, c)}`).join(', ');
      const { rows } = await q.query<{ row: Record<string, unknown> }>(
        `UPDATE ${table(t)} AS t SET ${set} WHERE ${key(t, 1)} RETURNING to_jsonb(t.*) AS row`,
        [id, ...cols.map((c) => bind(t, c, values[c]))],
      );
      return (rows[0] as { row: Record<string, unknown> }).row;
    },
    async deleteRow(q, t, id) {
      await q.query(`DELETE FROM ${table(t)} AS t WHERE ${key(t, 1)}`, [id]);
    },
    async setWriter(q, opId, clientId) {
      await q.query(`SELECT set_config('${s}.api', 'on', true), set_config('${s}.op', $1, true), set_config('${s}.client', $2, true)`, [
        opId,
        clientId,
      ]);
    },
    async savepoint(q) {
      await q.exec('SAVEPOINT syncline_op');
    },
    async rollbackToSavepoint(q) {
      await q.exec('ROLLBACK TO SAVEPOINT syncline_op; RELEASE SAVEPOINT syncline_op');
    },
    async releaseSavepoint(q) {
      await q.exec('RELEASE SAVEPOINT syncline_op');
    },
    constraintError(err) {
      const e = err as { code?: unknown; constraint?: unknown; message?: unknown };
      if (typeof e.code !== 'string') return undefined;
      // Class 22: data exceptions (a value the column's type rejects).
      const kind = CONSTRAINT_KINDS[e.code] ?? (e.code.startsWith('22') ? 'invalid_value' : undefined);
      if (!kind) return undefined;
      return {
        kind,
        ...(typeof e.constraint === 'string' ? { constraint: e.constraint } : {}),
        message: typeof e.message === 'string' ? e.message : kind,
      };
    },
  };
}
