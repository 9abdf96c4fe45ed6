/**
 * Syncline's own tables on MySQL/MariaDB. MySQL has no schemas inside a
 * database, so the configured schema name is a table-name prefix:
 * `syncline_documents`, `syncline_changes`, ...
 *
 * The change log, in short (DESIGN invariant 1; mysql-consumer.ts):
 * - Row triggers on `documents` (and on each TABLE_NAMES table, mysql-tables.ts)
 *   append one row per changed row to the target table (MYSQL_TABLE_TARGET),
 *   keyed by an AUTO_INCREMENT id. Those ids are drawn at insert time and
 *   commit out of order, so they are NOT positions.
 * - One consumer at a time (a row lock on meta 'head') moves the committed
 *   target rows, in id order, into `changes` with the next consecutive
 *   positions, deletes exactly those target rows and advances 'head', in one
 *   transaction. A row that commits later is seen by a later pass and gets a
 *   higher position, so `changes` only ever grows by a gap-free suffix.
 * - Session variables mark API writes: `@syncline_api` (documents; op and
 *   client ids come from the row), `@syncline_op`/`@syncline_client` (tables).
 *   `@syncline_last_change` is the last target id this session wrote, so the
 *   server can wait for its own write's position.
 *
 * DDL commits implicitly in MySQL, so a migration is not atomic: its
 * statements are written to be re-runnable (IF NOT EXISTS) after a crash.
 */
import { createHash } from 'node:crypto';
import { SynclineError } from '@syncline/protocol';
import type { MysqlClient } from './mysql-client.js';

export interface MysqlNames {
  /** Syncline's prefix (the configured schema). */
  prefix: string;
  /** The target table the triggers append to. */
  target: string;
}

export const SCHEMA_PREFIX = /^[a-z_][a-z0-9_]{0,40}$/;
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

/** A MySQL identifier, quoted (names come from configuration or introspection, never from requests). */
export const quoteId = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/** One of Syncline's own tables, quoted. */
export const tableOf = (prefix: string, name: string) => quoteId(`${prefix}_${name}`);

export interface MysqlMigration {
  version: number;
  name: string;
  statements: (n: MysqlNames & { flavor: 'mariadb' | 'mysql' }) => string[];
}

const OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';
const CHANGE_COLUMNS = 'collection, doc_id, type, data, old, version, vclock, op_id, client_id, source';
/** The columns of a change, in CHANGE_COLUMNS order: the same in the target table and in `changes`. */
const CHANGE_DEFINITIONS = `collection VARCHAR(64) NOT NULL, doc_id VARCHAR(256) NOT NULL, type VARCHAR(6) NOT NULL,
  data JSON NULL, old JSON NULL, version INT NOT NULL, vclock JSON NOT NULL,
  op_id VARCHAR(128) NULL, client_id VARCHAR(128) NULL, source VARCHAR(8) NOT NULL`;

/** The statement a trigger runs to append one change (values in CHANGE_COLUMNS order) and remember its id. */
export const appendChange = (target: string, values: string) =>
  `INSERT INTO ${quoteId(target)} (${CHANGE_COLUMNS}) VALUES (${values});
    SET @syncline_last_change = LAST_INSERT_ID();`;

export const migrations: MysqlMigration[] = [
  {
    version: 1,
    name: 'documents, target table, change log, operation log, row versions',
    statements: ({ prefix: p, target }) => {
      const t = (name: string) => tableOf(p, name);
      const api = 'COALESCE(@syncline_api, 0) = 1';
      const src = `IF(${api}, 'api', 'database')`;
      return [
        `CREATE TABLE IF NOT EXISTS ${t('documents')} (
          collection VARCHAR(64) NOT NULL,
          id VARCHAR(256) NOT NULL,
          data JSON NOT NULL DEFAULT (JSON_OBJECT()),
          version INT NOT NULL DEFAULT 1,
          vclock JSON NOT NULL DEFAULT (JSON_OBJECT()),
          deleted BOOLEAN NOT NULL DEFAULT FALSE,
          op_id VARCHAR(128) NULL,
          client_id VARCHAR(128) NULL,
          updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
          PRIMARY KEY (collection, id),
          INDEX tombstones (deleted, updated_at)
        ) ${OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${quoteId(target)} (
          id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
          ${CHANGE_DEFINITIONS}
        ) ${OPTIONS}`,
        // committed_ms: the consumer's clock (ms since epoch), free of session time zones.
        `CREATE TABLE IF NOT EXISTS ${t('changes')} (
          position BIGINT NOT NULL PRIMARY KEY,
          src_id BIGINT NOT NULL,
          ${CHANGE_DEFINITIONS},
          committed_ms BIGINT NOT NULL,
          INDEX src_id (src_id),
          INDEX committed_ms (committed_ms)
        ) ${OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${t('operations')} (
          id VARCHAR(128) NOT NULL PRIMARY KEY,
          client_id VARCHAR(128) NOT NULL,
          collection VARCHAR(64) NULL,
          doc_id VARCHAR(256) NULL,
          type VARCHAR(16) NULL,
          status VARCHAR(16) NOT NULL,
          result JSON NOT NULL,
          created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
          INDEX created_at (created_at)
        ) ${OPTIONS}`,
        `CREATE TABLE IF NOT EXISTS ${t('clients')} (
          client_id VARCHAR(128) NOT NULL PRIMARY KEY,
          position BIGINT NOT NULL,
          last_seen DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ${OPTIONS}`,
        // 'head': last assigned position, and the consumer's lock row; 'horizon': compaction.
        `CREATE TABLE IF NOT EXISTS ${t('meta')} (name VARCHAR(64) NOT NULL PRIMARY KEY, value BIGINT NOT NULL) ${OPTIONS}`,
        `INSERT IGNORE INTO ${t('meta')} (name, value) VALUES ('head', 0), ('horizon', 0)`,
        // Versions of TABLE_NAMES rows, kept by their triggers (mysql-tables.ts).
        `CREATE TABLE IF NOT EXISTS ${t('row_versions')} (
          collection VARCHAR(64) NOT NULL,
          id VARCHAR(256) NOT NULL,
          version INT NOT NULL,
          PRIMARY KEY (collection, id)
        ) ${OPTIONS}`,
        // A direct SQL update that leaves version alone still gets a new version and
        // a '$db' tick in its vector clock, so a client holding the old clock is told
        // it is stale instead of silently overwriting it.
        `DROP TRIGGER IF EXISTS ${quoteId(`${p}_documents_bu`)}`,
        `CREATE TRIGGER ${quoteId(`${p}_documents_bu`)} BEFORE UPDATE ON ${t('documents')} FOR EACH ROW
        BEGIN
          IF NEW.version = OLD.version AND (NOT (NEW.data <=> OLD.data) OR NEW.deleted <> OLD.deleted) THEN
            SET NEW.version = OLD.version + 1,
                NEW.vclock = JSON_SET(OLD.vclock, '$."$db"', COALESCE(CAST(JSON_EXTRACT(OLD.vclock, '$."$db"') AS SIGNED), 0) + 1),
                NEW.updated_at = CURRENT_TIMESTAMP(6);
          END IF;
        END`,
        `DROP TRIGGER IF EXISTS ${quoteId(`${p}_documents_ai`)}`,
        `CREATE TRIGGER ${quoteId(`${p}_documents_ai`)} AFTER INSERT ON ${t('documents')} FOR EACH ROW
        BEGIN
          ${appendChange(
            target,
            `NEW.collection, NEW.id, IF(NEW.deleted, 'delete', 'insert'), IF(NEW.deleted, NULL, NEW.data), NULL,
             NEW.version, NEW.vclock, IF(${api}, NEW.op_id, NULL), IF(${api}, NEW.client_id, NULL), ${src}`,
          )}
        END`,
        // As on PostgreSQL: a key change is a delete of the old key and an insert of
        // the new one; an update that changes nothing (data, deleted, version) is not
        // recorded; tombstone to tombstone is not recorded.
        `DROP TRIGGER IF EXISTS ${quoteId(`${p}_documents_au`)}`,
        `CREATE TRIGGER ${quoteId(`${p}_documents_au`)} AFTER UPDATE ON ${t('documents')} FOR EACH ROW
        BEGIN
          IF NEW.collection <> OLD.collection OR NEW.id <> OLD.id THEN
            IF NOT OLD.deleted THEN
              ${appendChange(target, `OLD.collection, OLD.id, 'delete', NULL, NULL, OLD.version + 1, OLD.vclock, NULL, NULL, ${src}`)}
            END IF;
            ${appendChange(
              target,
              `NEW.collection, NEW.id, IF(NEW.deleted, 'delete', 'insert'), IF(NEW.deleted, NULL, NEW.data), NULL,
               NEW.version, NEW.vclock, IF(${api}, NEW.op_id, NULL), IF(${api}, NEW.client_id, NULL), ${src}`,
            )}
          ELSEIF NOT (OLD.deleted AND NEW.deleted)
             AND (NEW.deleted <> OLD.deleted OR NEW.version <> OLD.version OR NOT (NEW.data <=> OLD.data)) THEN
            ${appendChange(
              target,
              `NEW.collection, NEW.id, CASE WHEN NEW.deleted THEN 'delete' WHEN OLD.deleted THEN 'insert' ELSE 'update' END,
               IF(NEW.deleted, NULL, NEW.data), NULL, NEW.version, NEW.vclock,
               IF(${api}, NEW.op_id, NULL), IF(${api}, NEW.client_id, NULL), ${src}`,
            )}
          END IF;
        END`,
        `DROP TRIGGER IF EXISTS ${quoteId(`${p}_documents_ad`)}`,
        `CREATE TRIGGER ${quoteId(`${p}_documents_ad`)} AFTER DELETE ON ${t('documents')} FOR EACH ROW
        BEGIN
          IF NOT OLD.deleted THEN
            ${appendChange(target, `OLD.collection, OLD.id, 'delete', NULL, NULL, OLD.version + 1, OLD.vclock, NULL, NULL, ${src}`)}
          END IF;
        END`,
      ];
    },
  },
  {
    version: 2,
    name: 'document changes keep old values (as on PostgreSQL): an update the old values of the fields it changed, a delete the data as it was',
    statements: ({ prefix: p, target, flavor }) => {
      const t = (name: string) => tableOf(p, name);
      const api = 'COALESCE(@syncline_api, 0) = 1';
      const src = `IF(${api}, 'api', 'database')`;
      // MariaDB's JSON is text: compare values with JSON_EQUALS; MySQL compares its JSON type natively.
      const same =
        flavor === 'mariadb'
          ? 'COALESCE(JSON_EQUALS(JSON_EXTRACT(OLD.data, k), JSON_EXTRACT(NEW.data, k)), 0)'
          : 'COALESCE(JSON_EXTRACT(OLD.data, k) = JSON_EXTRACT(NEW.data, k), FALSE)';
      /** Each top-level key of `doc` as a JSON path, in `k`, running `body`. */
      const eachKey = (doc: string, body: string) => `SET ks = JSON_KEYS(${doc}), i = 0;
          WHILE i < COALESCE(JSON_LENGTH(ks), 0) DO
            SET k = CONCAT('$.', JSON_QUOTE(JSON_UNQUOTE(JSON_EXTRACT(ks, CONCAT('$[', i, ']')))));
            ${body}
            SET i = i + 1;
          END WHILE;`;
      return [
        `DROP TRIGGER IF EXISTS ${quoteId(`${p}_documents_au`)}`,
        `CREATE TRIGGER ${quoteId(`${p}_documents_au`)} AFTER UPDATE ON ${t('documents')} FOR EACH ROW
        BEGIN
          DECLARE old_values JSON DEFAULT NULL;
          DECLARE ks JSON;
          DECLARE k TEXT;
          DECLARE i INT DEFAULT 0;
          IF NEW.collection <> OLD.collection OR NEW.id <> OLD.id THEN
            IF NOT OLD.deleted THEN
              ${appendChange(target, `OLD.collection, OLD.id, 'delete', NULL, OLD.data, OLD.version + 1, OLD.vclock, NULL, NULL, ${src}`)}
            END IF;
            ${appendChange(
              target,
              `NEW.collection, NEW.id, IF(NEW.deleted, 'delete', 'insert'), IF(NEW.deleted, NULL, NEW.data), NULL,
               NEW.version, NEW.vclock, IF(${api}, NEW.op_id, NULL), IF(${api}, NEW.client_id, NULL), ${src}`,
            )}
          ELSEIF NOT (OLD.deleted AND NEW.deleted)
             AND (NEW.deleted <> OLD.deleted OR NEW.version <> OLD.version OR NOT (NEW.data <=> OLD.data)) THEN
            IF NEW.deleted THEN
              SET old_values = OLD.data;
            ELSEIF NOT OLD.deleted THEN
              -- An update: the old values of the fields it changed or removed, null for those it added.
              SET old_values = JSON_OBJECT();
              ${eachKey('OLD.data', `IF NOT ${same} THEN SET old_values = JSON_SET(old_values, k, JSON_EXTRACT(OLD.data, k)); END IF;`)}
              ${eachKey('NEW.data', `IF NOT JSON_CONTAINS_PATH(OLD.data, 'one', k) THEN SET old_values = JSON_SET(old_values, k, NULL); END IF;`)}
            END IF;
            ${appendChange(
              target,
              `NEW.collection, NEW.id, CASE WHEN NEW.deleted THEN 'delete' WHEN OLD.deleted THEN 'insert' ELSE 'update' END,
               IF(NEW.deleted, NULL, NEW.data), old_values, NEW.version, NEW.vclock,
               IF(${api}, NEW.op_id, NULL), IF(${api}, NEW.client_id, NULL), ${src}`,
            )}
          END IF;
        END`,
        `DROP TRIGGER IF EXISTS ${quoteId(`${p}_documents_ad`)}`,
        `CREATE TRIGGER ${quoteId(`${p}_documents_ad`)} AFTER DELETE ON ${t('documents')} FOR EACH ROW
        BEGIN
          IF NOT OLD.deleted THEN
            ${appendChange(target, `OLD.collection, OLD.id, 'delete', NULL, OLD.data, OLD.version + 1, OLD.vclock, NULL, NULL, ${src}`)}
          END IF;
        END`,
      ];
    },
  },
  {
    version: 3,
    name: 'operation ids scoped to their caller: the operation log keyed by (scope, id) with body fingerprints; client id owners',
    statements: ({ prefix: p }) => {
      const t = (name: string) => tableOf(p, name);
      const ops = `${p}_operations`;
      return [
        // One ALTER (atomic) adds the columns and re-keys the log; skipped when a crashed run already did it.
        ...unlessColumn(
          ops,
          'scope',
          `ALTER TABLE ${t('operations')} ADD COLUMN scope VARCHAR(255) NOT NULL DEFAULT '' FIRST,
             ADD COLUMN fingerprint CHAR(64) NULL, DROP PRIMARY KEY, ADD PRIMARY KEY (scope, id)`,
        ),
        // scope: 'u:<user id>', or anonymous (open mode) 'c:<client id>' (operation-scope.ts); rows
        // logged before get the scope of the client that wrote them (no user was recorded).
        `UPDATE ${t('operations')} SET scope = CONCAT('c:', client_id) WHERE scope = ''`,
        `ALTER TABLE ${t('operations')} ALTER COLUMN scope DROP DEFAULT`,
        // The first authenticated user that used a client id owns it; another user is refused (CLIENT_ID_TAKEN).
        `CREATE TABLE IF NOT EXISTS ${t('client_owners')} (
          client_id VARCHAR(128) NOT NULL PRIMARY KEY,
          owner VARCHAR(255) NOT NULL,
          created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ${OPTIONS}`,
      ];
    },
  },
];

/** `ddl` run only while `table` has no column `column` (MySQL has no ADD COLUMN IF NOT EXISTS; MariaDB does). */
function unlessColumn(table: string, column: string, ddl: string): string[] {
  return [
    `SET @syncline_ddl = (SELECT IF(COUNT(*) = 0, ${sqlString(ddl)}, 'DO 0') FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${sqlString(table)} AND COLUMN_NAME = ${sqlString(column)})`,
    'PREPARE syncline_ddl FROM @syncline_ddl',
    'EXECUTE syncline_ddl',
    'DEALLOCATE PREPARE syncline_ddl',
  ];
}

/** A string literal (for names and DDL built here, never request data). */
const sqlString = (v: string) => `'${v.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/** A GET_LOCK name for this database and prefix (at most 64 characters, as MySQL requires). */
export function lockName(database: string, prefix: string, what: string): string {
  return `syncline:${createHash('sha256').update(`${database}.${prefix}.${what}`).digest('hex').slice(0, 40)}`;
}

/** Applies pending migrations under a named lock, so concurrent starts are safe. */
export async function migrateMysql(db: MysqlClient, names: MysqlNames): Promise<number[]> {
  if (!SCHEMA_PREFIX.test(names.prefix)) throw new SynclineError('INVALID_CONFIG', `invalid schema name: ${names.prefix}`);
  if (!IDENTIFIER.test(names.target)) throw new SynclineError('INVALID_CONFIG', `invalid MYSQL_TABLE_TARGET: ${names.target}`);
  const m = tableOf(names.prefix, 'migrations');
  return db.session(async (conn) => {
    const lock = lockName(db.database, names.prefix, 'migrate');
    const { rows } = await conn.query<{ ok: number | null }>('SELECT GET_LOCK(?, 600) AS ok', [lock]);
    if (Number(rows[0]?.ok) !== 1) throw new Error(`could not take the migration lock ${lock}`);
    try {
      await conn.query(`CREATE TABLE IF NOT EXISTS ${m} (
        version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
        applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`);
      const done = new Set((await conn.query<{ version: number }>(`SELECT version FROM ${m}`)).rows.map((r) => Number(r.version)));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        for (const sql of migration.statements({ ...names, flavor: db.flavor })) await conn.query(sql);
        await conn.query(`INSERT INTO ${m} (version, name) VALUES (?, ?)`, [migration.version, migration.name]);
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lock]);
    }
  });
}
