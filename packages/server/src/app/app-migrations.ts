/**
 * The application's own migrations (SYNCLINE_MIGRATIONS_DIR), applied in name order, each once, recorded in
 * Syncline's table `app_migrations` (`<schema>.app_migrations`, MySQL `<schema>_app_migrations`):
 * - `NNN_name.sql`: a script; on MySQL `NNN_name.mysql.sql` replaces it when present; `NNN_name.down.sql`
 *   (optional) undoes it for `syncline rollback`;
 * - `NNN_name.js` / `.cjs` / `.mjs`: a Knex migration, `exports.up(knex)` and `exports.down(knex)` (as
 *   `knex migrate:make` writes them), run with Knex on the same connection (knex-bridge.ts).
 * Anything else that looks like a migration (a `.ts` file, a script without `up`) is an error naming the file;
 * other files (README.md, .gitkeep) are not migrations.
 *
 * Each file is applied under the storage's lock `app_migrate` (so instances
 * starting at once apply it once: the second finds it recorded), in one
 * transaction with its record: on PostgreSQL a failing file leaves nothing
 * behind and is tried again at the next start. They run after Syncline's own
 * migrations and before capture is installed (Storage.migrate's `app` step).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SynclineError } from '@syncline/protocol';
import type { AppQueryable, AppSql } from '../storage/app-sql.js';
import type { MigrateOptions } from '../storage/storage.js';
import { type KnexLike, withKnex } from './knex-bridge.js';
import { noProgress, type ProgressFactory } from './progress.js';

export interface AppMigrationFile {
  /** The name recorded: the file name without `.sql` / `.mysql.sql` / `.js`. */
  name: string;
  /** The file applied (the MySQL variant on MySQL when there is one). */
  file: string;
  path: string;
  kind: 'sql' | 'knex';
  /** `NNN_name.down.sql`, when there is one (SQL migrations). */
  down?: string;
}

const FILE = /^(\d+_[A-Za-z0-9_.-]+?)(\.mysql|\.down)?\.(sql|js|cjs|mjs)$/;
/** Files that look like migrations but cannot be run as they are. */
const UNRUNNABLE = /^\d+_.*\.(ts|mts|cts|coffee)$/;

/** The migrations of `dir` for this dialect, in name order. */
export function readAppMigrations(dir: string, dialect: AppSql['dialect']): AppMigrationFile[] {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new SynclineError('INVALID_CONFIG', `SYNCLINE_MIGRATIONS_DIR: no such folder: ${root}`);
  }
  const byName = new Map<string, AppMigrationFile>();
  const downs = new Map<string, string>();
  for (const file of readdirSync(root).sort()) {
    if (UNRUNNABLE.test(file)) {
      throw new SynclineError(
        'INVALID_CONFIG',
        `SYNCLINE_MIGRATIONS_DIR: ${file} cannot be run: compile it to JavaScript (.js), or write it as .sql.`,
        { file },
      );
    }
    if (!/\.(sql|js|cjs|mjs)$/.test(file)) continue;
    const m = FILE.exec(file);
    if (!m) {
      throw new SynclineError(
        'INVALID_CONFIG',
        `SYNCLINE_MIGRATIONS_DIR: ${file} is not named NNN_name.sql (or NNN_name.mysql.sql, NNN_name.down.sql, NNN_name.js).`,
        { file },
      );
    }
    const name = m[1] as string;
    const kind = m[3] === 'sql' ? 'sql' : 'knex';
    if (m[2] === '.down') {
      if (kind !== 'sql')
        throw new SynclineError('INVALID_CONFIG', `SYNCLINE_MIGRATIONS_DIR: ${file}: only .sql migrations have .down files.`, { file });
      downs.set(name, join(root, file));
      continue;
    }
    const variant = m[2] === '.mysql';
    if (variant && kind !== 'sql')
      throw new SynclineError('INVALID_CONFIG', `SYNCLINE_MIGRATIONS_DIR: ${file}: only .sql migrations have .mysql variants.`, { file });
    if (variant && dialect !== 'mysql') continue;
    const had = byName.get(name);
    if (had && (had.kind !== kind || (!variant && had.file.endsWith('.mysql.sql') === false))) {
      throw new SynclineError('INVALID_CONFIG', `SYNCLINE_MIGRATIONS_DIR: ${had.file} and ${file} are the same migration; keep one.`, {
        file,
      });
    }
    // The MySQL variant wins whichever order the two files are listed in.
    if (!variant && had) continue;
    byName.set(name, { name, file, path: join(root, file), kind });
  }
  for (const [name, path] of downs) {
    const f = byName.get(name);
    if (f) f.down = path;
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A Knex migration module's `up` and `down` (CommonJS `exports.up` or ESM `export function up`). */
async function knexModule(f: AppMigrationFile): Promise<{ up: (k: KnexLike) => unknown; down?: (k: KnexLike) => unknown }> {
  const mod = (await import(pathToFileURL(f.path).href)) as Record<string, unknown> & { default?: Record<string, unknown> };
  const exports = typeof mod.up === 'function' ? mod : (mod.default ?? {});
  if (typeof exports.up !== 'function') {
    throw new SynclineError(
      'MIGRATION_FAILED',
      `Migration ${f.file} exports no up(knex) function (exports.up = async (knex) => { ... }).`,
      {
        file: f.file,
      },
    );
  }
  return exports as { up: (k: KnexLike) => unknown; down?: (k: KnexLike) => unknown };
}

/** Runs migration `f` (up) on `q`. */
async function runUp(f: AppMigrationFile, q: AppQueryable, dialect: AppSql['dialect']): Promise<void> {
  if (f.kind === 'sql') return q.exec(readFileSync(f.path, 'utf8'));
  const mod = await knexModule(f);
  await withKnex(q, dialect, f.file, async (k) => {
    await mod.up(k);
  });
}

const checksumOf = (f: AppMigrationFile) => createHash('sha256').update(readFileSync(f.path)).digest('hex');

const failed = (f: AppMigrationFile, sql: AppSql, err: unknown, what = 'Migration') => {
  if (err instanceof SynclineError && err.code === 'MIGRATION_FAILED') return err;
  const why = (err as Error)?.message ?? String(err);
  return new SynclineError(
    'MIGRATION_FAILED',
    `${what} ${f.file} failed: ${why}${sql.dialect === 'mysql' ? ' (MySQL: statements before the failing one stay applied)' : ''}`,
    { file: f.file, path: f.path, reason: why },
    { cause: err },
  );
};

async function ensureTable(sql: AppSql): Promise<string> {
  const table = sql.table('app_migrations');
  await sql.exclusive('app_migrate', (q) =>
    q.exec(
      sql.dialect === 'mysql'
        ? `CREATE TABLE IF NOT EXISTS ${table} (name VARCHAR(255) NOT NULL PRIMARY KEY, file VARCHAR(255) NOT NULL,
             checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`
        : `CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, file text NOT NULL, checksum text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())`,
    ),
  );
  return table;
}

/** Applies the pending migrations of `dir`; resolves with the names applied by this call. */
export async function applyAppMigrations(sql: AppSql, dir: string, progress: ProgressFactory = noProgress): Promise<string[]> {
  const files = readAppMigrations(dir, sql.dialect);
  const table = await ensureTable(sql);
  const recorded = async (q: Pick<AppSql, 'query'>) =>
    new Set((await q.query<{ name: string }>(`SELECT name FROM ${table}`)).rows.map((r) => r.name));
  const known = await recorded(sql);
  const pending = files.filter((f) => !known.has(f.name));
  if (pending.length === 0) return [];
  const bar = progress('migrations', pending.length);
  const applied: string[] = [];
  try {
    for (const f of pending) {
      const checksum = checksumOf(f);
      const did = await sql
        .exclusive('app_migrate', async (q) => {
          // Another instance may have applied it while this one waited for the lock.
          if ((await recorded(q)).has(f.name)) return false;
          await runUp(f, q, sql.dialect);
          await q.query(`INSERT INTO ${table} (name, file, checksum) VALUES ($1, $2, $3)`, [f.name, f.file, checksum]);
          return true;
        })
        .catch((err: unknown) => {
          throw failed(f, sql, err);
        });
      if (did) applied.push(f.name);
      bar.tick(1, f.file);
    }
  } finally {
    bar.done();
  }
  return applied;
}

/**
 * Undoes the `steps` most recently applied migrations of `dir`, newest first, each in one transaction with
 * the removal of its record (Knex: `exports.down(knex)`; SQL: its `NNN_name.down.sql`). A migration without a
 * down is an error naming it, and nothing after it is undone. Resolves with the names undone.
 */
export async function rollbackAppMigrations(sql: AppSql, dir: string, steps = 1): Promise<string[]> {
  const files = new Map(readAppMigrations(dir, sql.dialect).map((f) => [f.name, f]));
  const table = await ensureTable(sql);
  const undone: string[] = [];
  for (let i = 0; i < steps; i++) {
    const name = await sql.exclusive('app_migrate', async (q) => {
      const { rows } = await q.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY applied_at DESC, name DESC LIMIT 1`);
      const last = rows[0]?.name;
      if (last === undefined) return undefined;
      const f = files.get(last);
      if (!f) {
        throw new SynclineError('MIGRATION_FAILED', `Migration ${last} is recorded as applied but its file is not in ${resolve(dir)}.`, {
          file: last,
        });
      }
      try {
        if (f.kind === 'sql') {
          if (!f.down)
            throw new SynclineError('MIGRATION_FAILED', `Migration ${f.file} has no ${f.name}.down.sql to roll it back.`, { file: f.file });
          await q.exec(readFileSync(f.down, 'utf8'));
        } else {
          const mod = await knexModule(f);
          if (typeof mod.down !== 'function') {
            throw new SynclineError('MIGRATION_FAILED', `Migration ${f.file} exports no down(knex) to roll it back.`, { file: f.file });
          }
          await withKnex(q, sql.dialect, f.file, async (k) => {
            await mod.down?.(k);
          });
        }
      } catch (err) {
        throw failed(f, sql, err, 'Rollback of');
      }
      await q.query(`DELETE FROM ${table} WHERE name = $1`, [f.name]);
      return f.name;
    });
    if (name === undefined) break;
    undone.push(name);
  }
  return undone;
}

/** The `Storage.migrate` step that applies `dir`'s migrations (none without a dir), telling `applied` their names. */
export function appMigrationStep(
  dir: string | undefined,
  progress: ProgressFactory | undefined,
  applied: (names: string[]) => void,
): MigrateOptions {
  return dir ? { app: async (sql) => applied(await applyAppMigrations(sql, dir, progress)) } : {};
}
