/**
 * Table collections on MySQL/MariaDB: introspection of the TABLE_NAMES tables
 * (in the connected database), their capture triggers, and the MySQL dialect
 * of table writes (table-writes.ts).
 *
 * Triggers are generated per table from its columns (a row as
 * `JSON_OBJECT('col', NEW.col, ...)`) and named `<prefix>_cap_<hash>_{ai,au,ad}`,
 * so several Syncline prefixes can watch one database and each finds (and
 * removes) only its own. Semantics as on PostgreSQL: insert → version 1;
 * update → previous + 1 (absent counts as 1) with `old` = the changed
 * columns' old values (every updated row is recorded); delete → previous + 1,
 * `old` = the deleted row, its version entry removed; a key change is a delete
 * of the old key and an insert of the new one. MySQL fires no trigger on
 * TRUNCATE, so a TRUNCATE is not captured.
 */
import { createHash } from 'node:crypto';
import { SynclineError } from '@syncline/protocol';
import type { UninstalledCapture } from '../storage.js';
import type { ConstraintKind, RowState, TableColumn, TableDialect, TableInfo } from '../table-writes.js';
import type { MysqlClient, MysqlQueryable } from './mysql-client.js';
import { appendChange, lockName, type MysqlNames, quoteId, tableOf } from './mysql-migrations.js';

const INTEGER_KEYS = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'bigint']);
const TEXT_KEYS = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'uuid']);
const TEXT_TYPES = new Set([...TEXT_KEYS, 'enum', 'set']);

export interface MysqlTableInfo extends TableInfo {
  /** Every column in table order, generated ones included (a row's JSON). */
  allColumns: { name: string; type: string }[];
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  column_type: string;
  nullable: string;
  column_default: string | null;
  extra: string;
  is_pk: number;
  pk_columns: number;
}

/** Reads the configured tables' columns and keys; fails with INVALID_CONFIG for a missing or unsupported table. */
export async function introspectMysqlTables(q: MysqlQueryable, names: readonly string[]): Promise<Map<string, MysqlTableInfo>> {
  const tables = new Map<string, MysqlTableInfo>();
  if (names.length === 0) return tables;
  const { rows } = await q.query<ColumnRow>(
    `SELECT c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name, c.DATA_TYPE AS data_type, c.COLUMN_TYPE AS column_type,
            c.IS_NULLABLE AS nullable, c.COLUMN_DEFAULT AS column_default, c.EXTRA AS extra,
            EXISTS (SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA
                    AND s.TABLE_NAME = c.TABLE_NAME AND s.INDEX_NAME = 'PRIMARY' AND s.COLUMN_NAME = c.COLUMN_NAME) AS is_pk,
            (SELECT COUNT(*) FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA
                    AND s.TABLE_NAME = c.TABLE_NAME AND s.INDEX_NAME = 'PRIMARY') AS pk_columns
     FROM information_schema.COLUMNS c
     WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME IN (?)
     ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
    [[...names]],
  );
  const problems: string[] = [];
  for (const name of names) {
    const cols = rows.filter((r) => r.table_name === name);
    if (cols.length === 0) {
      problems.push(`TABLE_NAMES: no table ${JSON.stringify(name)} in the database`);
      continue;
    }
    const key = cols.find((c) => Number(c.is_pk) === 1);
    if (!key || Number(key.pk_columns) !== 1) {
      problems.push(`TABLE_NAMES: table ${JSON.stringify(name)} needs a single-column primary key`);
      continue;
    }
    const type = key.data_type.toLowerCase();
    const pkKind = INTEGER_KEYS.has(type) ? 'integer' : TEXT_KEYS.has(type) ? 'text' : undefined;
    if (!pkKind) {
      problems.push(`TABLE_NAMES: table ${JSON.stringify(name)} has a ${key.column_type} key; keys must be integers or text`);
      continue;
    }
    const columns = new Map<string, TableColumn>();
    for (const c of cols) {
      // Generated columns cannot be written: leaving them out makes writing one an UNKNOWN_COLUMN.
      if (/\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(c.extra)) continue;
      columns.set(c.column_name, {
        name: c.column_name,
        type: c.data_type.toLowerCase(),
        nullable: c.nullable === 'YES',
        hasDefault: /auto_increment/i.test(c.extra) || (c.column_default !== null && c.column_default !== 'NULL'),
      });
    }
    tables.set(name, {
      collection: name,
      table: name,
      pk: key.column_name,
      pkKind,
      // Only AUTO_INCREMENT keys are read back (MySQL has no RETURNING); other keys take the docId.
      pkGenerated: /auto_increment/i.test(key.extra),
      columns,
      allColumns: cols.map((c) => ({ name: c.column_name, type: c.data_type.toLowerCase() })),
    });
  }
  if (problems.length > 0) throw new SynclineError('INVALID_CONFIG', problems.join('; '), { problems });
  return tables;
}

/** A SQL string literal (names come from introspection). */
const literal = (v: string) => `'${v.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/** The row `alias` (NEW, OLD, or a table alias) as a JSON object of all its columns. */
export const rowJson = (t: MysqlTableInfo, alias: string) =>
  `JSON_OBJECT(${t.allColumns.map((c) => `${literal(c.name)}, ${alias}.${quoteId(c.name)}`).join(', ')})`;

const keyText = (t: TableInfo, alias: string) => `CAST(${alias}.${quoteId(t.pk)} AS CHAR)`;

const triggerPrefix = (prefix: string) => `${prefix}_cap_`;
const triggerName = (prefix: string, table: string, event: 'ai' | 'au' | 'ad') =>
  `${triggerPrefix(prefix)}${createHash('sha256').update(table).digest('hex').slice(0, 12)}_${event}`;

/** The trigger bodies of one table (what follows FOR EACH ROW). */
function triggerBodies(t: MysqlTableInfo, names: MysqlNames): Record<'ai' | 'au' | 'ad', string> {
  const rv = tableOf(names.prefix, 'row_versions');
  const coll = literal(t.collection);
  const writer = `@syncline_op, @syncline_client, IF(@syncline_op IS NULL, 'database', 'api')`;
  const change = (key: string, type: string, data: string, old: string, version: string) =>
    appendChange(names.target, `${coll}, ${key}, ${type}, ${data}, ${old}, ${version}, JSON_OBJECT(), ${writer}`);
  const versionOf = (key: string) => `COALESCE((SELECT version FROM ${rv} WHERE collection = ${coll} AND id = ${key}), 1)`;
  const forget = (key: string) => `DELETE FROM ${rv} WHERE collection = ${coll} AND id = ${key};`;
  // Text columns compare as bytes: a case-only change is a change.
  const same = (c: { name: string; type: string }) =>
    TEXT_TYPES.has(c.type)
      ? `BINARY OLD.${quoteId(c.name)} <=> BINARY NEW.${quoteId(c.name)}`
      : `OLD.${quoteId(c.name)} <=> NEW.${quoteId(c.name)}`;
  const pruneUnchanged = t.allColumns
    .map((c) => `IF ${same(c)} THEN SET o = JSON_REMOVE(o, ${literal(`$."${c.name}"`)}); END IF;`)
    .join('\n      ');
  return {
    ai: `BEGIN
      ${change(keyText(t, 'NEW'), "'insert'", rowJson(t, 'NEW'), 'NULL', '1')}
    END`,
    au: `BEGIN
      DECLARE v INT DEFAULT 1;
      DECLARE o LONGTEXT;
      IF BINARY ${keyText(t, 'OLD')} <> BINARY ${keyText(t, 'NEW')} THEN
        SET v = ${versionOf(keyText(t, 'OLD'))};
        ${forget(keyText(t, 'OLD'))}
        ${change(keyText(t, 'OLD'), "'delete'", 'NULL', rowJson(t, 'OLD'), 'v + 1')}
        ${change(keyText(t, 'NEW'), "'insert'", rowJson(t, 'NEW'), 'NULL', '1')}
      ELSE
        INSERT INTO ${rv} (collection, id, version) VALUES (${coll}, ${keyText(t, 'NEW')}, 2)
          ON DUPLICATE KEY UPDATE version = version + 1;
        SET v = ${versionOf(keyText(t, 'NEW'))};
        SET o = ${rowJson(t, 'OLD')};
        ${pruneUnchanged}
        ${change(keyText(t, 'NEW'), "'update'", rowJson(t, 'NEW'), 'o', 'v')}
      END IF;
    END`,
    ad: `BEGIN
      DECLARE v INT DEFAULT 1;
      SET v = ${versionOf(keyText(t, 'OLD'))};
      ${forget(keyText(t, 'OLD'))}
      ${change(keyText(t, 'OLD'), "'delete'", 'NULL', rowJson(t, 'OLD'), 'v + 1')}
    END`,
  };
}

const EVENTS = { ai: 'AFTER INSERT', au: 'AFTER UPDATE', ad: 'AFTER DELETE' } as const;

/**
 * Installs (or updates, when a table's columns changed) the capture triggers
 * of the configured tables and drops this prefix's triggers from tables no
 * longer configured (forgetting their row versions), under the migration lock.
 * An unchanged trigger is left alone, so a restart loses no write.
 */
export async function installMysqlTableCapture(
  db: MysqlClient,
  names: MysqlNames,
  tableNames: readonly string[],
): Promise<Map<string, MysqlTableInfo>> {
  return db.session(async (conn) => {
    const lock = lockName(db.database, names.prefix, 'migrate');
    await conn.query('SELECT GET_LOCK(?, 600)', [lock]);
    try {
      const tables = await introspectMysqlTables(conn, tableNames);
      const { rows: installed } = await conn.query<{ name: string; tbl: string; body: string }>(
        `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_STATEMENT AS body FROM information_schema.TRIGGERS
         WHERE TRIGGER_SCHEMA = DATABASE() AND LEFT(TRIGGER_NAME, ?) = ?`,
        [triggerPrefix(names.prefix).length, triggerPrefix(names.prefix)],
      );
      const wanted = new Map<string, { table: MysqlTableInfo; event: keyof typeof EVENTS; body: string }>();
      for (const t of tables.values()) {
        const bodies = triggerBodies(t, names);
        for (const event of Object.keys(EVENTS) as (keyof typeof EVENTS)[]) {
          wanted.set(triggerName(names.prefix, t.table, event), { table: t, event, body: bodies[event] });
        }
      }
      const forgotten = new Set<string>();
      for (const tr of installed) {
        if (wanted.has(tr.name)) continue;
        await conn.query(`DROP TRIGGER IF EXISTS ${quoteId(tr.name)}`);
        if (!tables.has(tr.tbl)) forgotten.add(tr.tbl);
      }
      for (const [name, w] of wanted) {
        const current = installed.find((tr) => tr.name === name);
        if (current && current.tbl === w.table.table && current.body.trim() === w.body.trim()) continue;
        const create = (orReplace: boolean) =>
          `CREATE ${orReplace ? 'OR REPLACE ' : ''}TRIGGER ${quoteId(name)} ${EVENTS[w.event]} ON ${quoteId(w.table.table)} FOR EACH ROW ${w.body}`;
        if (!current) await conn.query(create(false));
        else if (db.flavor === 'mariadb') await conn.query(create(true));
        else {
          // MySQL has no CREATE OR REPLACE TRIGGER: hold writers off while it is swapped.
          await conn.query(`LOCK TABLES ${quoteId(w.table.table)} WRITE`);
          try {
            await conn.query(`DROP TRIGGER ${quoteId(name)}`);
            await conn.query(create(false));
          } finally {
            await conn.query('UNLOCK TABLES');
          }
        }
      }
      if (forgotten.size > 0) {
        await conn.query(`DELETE FROM ${tableOf(names.prefix, 'row_versions')} WHERE collection IN (?)`, [[...forgotten]]);
      }
      return tables;
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lock]);
    }
  });
}

/** Drops this prefix's capture triggers from every table of the database and forgets their row versions. */
export async function uninstallMysqlTableCapture(db: MysqlClient, names: MysqlNames): Promise<UninstalledCapture> {
  return db.session(async (conn) => {
    const lock = lockName(db.database, names.prefix, 'migrate');
    await conn.query('SELECT GET_LOCK(?, 600)', [lock]);
    try {
      const { rows } = await conn.query<{ name: string; tbl: string }>(
        `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl FROM information_schema.TRIGGERS
         WHERE TRIGGER_SCHEMA = DATABASE() AND LEFT(TRIGGER_NAME, ?) = ? ORDER BY tbl, name`,
        [triggerPrefix(names.prefix).length, triggerPrefix(names.prefix)],
      );
      for (const tr of rows) await conn.query(`DROP TRIGGER IF EXISTS ${quoteId(tr.name)}`);
      const rv = tableOf(names.prefix, 'row_versions');
      const { rows: exists } = await conn.query<{ n: number }>(
        'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
        [rv.replaceAll('`', '')],
      );
      if (Number(exists[0]?.n) > 0) await conn.query(`DELETE FROM ${rv}`);
      return { triggers: rows.map((r) => ({ table: r.tbl, trigger: r.name })), functions: [] };
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lock]);
    }
  });
}

/** mysql2 error numbers of constraint violations and of values a column rejects. */
const CONSTRAINT_KINDS: Record<number, ConstraintKind> = {
  1451: 'foreign_key', // ER_ROW_IS_REFERENCED_2
  1452: 'foreign_key', // ER_NO_REFERENCED_ROW_2
  1216: 'foreign_key',
  1217: 'foreign_key',
  1062: 'unique', // ER_DUP_ENTRY
  1048: 'not_null', // ER_BAD_NULL_ERROR
  1364: 'not_null', // ER_NO_DEFAULT_FOR_FIELD
  3819: 'check', // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025: 'check', // ER_CONSTRAINT_FAILED (MariaDB)
  1264: 'invalid_value', // out of range
  1265: 'invalid_value', // data truncated
  1366: 'invalid_value', // incorrect value
  1292: 'invalid_value', // incorrect date/number
  1406: 'invalid_value', // data too long
  3140: 'invalid_value', // invalid JSON text (MySQL)
};

/** Values as mysql2 must receive them: objects and arrays as JSON text (the driver would expand them). */
const bind = (v: unknown) => (v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v);

/** The MySQL dialect of table writes; `q` is the caller's transaction. */
export function mysqlTableDialect(prefix: string): TableDialect<MysqlQueryable> {
  const info = (t: TableInfo) => t as MysqlTableInfo;
  const rv = tableOf(prefix, 'row_versions');
  // `=` uses the key's index; for text keys the binary comparison makes it exact whatever the collation.
  const where = (t: TableInfo) =>
    t.pkKind === 'text' ? `t.${quoteId(t.pk)} = ? AND CAST(t.${quoteId(t.pk)} AS BINARY) = CAST(? AS BINARY)` : `t.${quoteId(t.pk)} = ?`;
  const keyParams = (t: TableInfo, id: string) => (t.pkKind === 'text' ? [id, id] : [id]);
  const readRow = async (q: MysqlQueryable, t: TableInfo, id: string, lock = true): Promise<RowState | null> => {
    const { rows } = await q.query<{ data: string; version: number }>(
      `SELECT ${rowJson(info(t), 't')} AS data, COALESCE(v.version, 1) AS version
       FROM ${quoteId(t.table)} t LEFT JOIN ${rv} v ON v.collection = ? AND v.id = ?
       WHERE ${where(t)} ${lock ? 'FOR UPDATE' : ''}`,
      [t.collection, id, ...keyParams(t, id)],
    );
    const r = rows[0];
    return r ? { data: JSON.parse(r.data), version: Number(r.version) } : null;
  };
  const stored = async (q: MysqlQueryable, t: TableInfo, id: string) =>
    ((await readRow(q, t, id, false)) as RowState).data as Record<string, unknown>;
  return {
    readRow,
    async insertRow(q, t, values) {
      const cols = Object.keys(values);
      const { insertId } = await q.query(
        `INSERT INTO ${quoteId(t.table)} (${cols.map(quoteId).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
        cols.map((c) => bind(values[c])),
      );
      const key = values[t.pk] === undefined ? String(insertId) : String(values[t.pk]);
      return stored(q, t, key);
    },
    async updateRow(q, t, id, values) {
      const cols = Object.keys(values);
      const set = cols.length === 0 ? `${quoteId(t.pk)} = ${quoteId(t.pk)}` : cols.map((c) => `${quoteId(c)} = ?`).join(', ');
      await q.query(`UPDATE ${quoteId(t.table)} t SET ${set} WHERE ${where(t)}`, [
        ...cols.map((c) => bind(values[c])),
        ...keyParams(t, id),
      ]);
      return stored(q, t, id);
    },
    async deleteRow(q, t, id) {
      await q.query(`DELETE t FROM ${quoteId(t.table)} t WHERE ${where(t)}`, keyParams(t, id));
    },
    async setWriter(q, opId, clientId) {
      await q.query('SET @syncline_op = ?, @syncline_client = ?', [opId, clientId]);
    },
    async savepoint(q) {
      await q.query('SAVEPOINT syncline_op');
    },
    async rollbackToSavepoint(q) {
      // After a deadlock InnoDB has rolled the whole transaction back and the savepoint is gone;
      // the caller rethrows the original error, which retries the batch.
      await q.query('ROLLBACK TO SAVEPOINT syncline_op').catch(() => {});
    },
    async releaseSavepoint(q) {
      await q.query('RELEASE SAVEPOINT syncline_op');
    },
    constraintError(err) {
      const e = err as { errno?: unknown; message?: unknown };
      if (typeof e.errno !== 'number') return undefined;
      const kind = CONSTRAINT_KINDS[e.errno];
      if (!kind) return undefined;
      const message = typeof e.message === 'string' ? e.message : kind;
      // "... CONSTRAINT `fk_name` FOREIGN KEY ...", "... for key 'name'", "CONSTRAINT `t.c` failed ..."
      const constraint = /CONSTRAINT `([^`]+)`/.exec(message)?.[1] ?? /for key '([^']+)'/.exec(message)?.[1];
      return { kind, ...(constraint ? { constraint } : {}), message };
    },
  };
}
