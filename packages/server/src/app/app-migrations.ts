/**
 * The application's own SQL migrations (SYNCLINE_MIGRATIONS_DIR): files
 * `NNN_name.sql`, applied in name order, each once, recorded in Syncline's
 * table `app_migrations` (`<schema>.app_migrations`, MySQL `<schema>_app_migrations`).
 * On MySQL `NNN_name.mysql.sql` replaces `NNN_name.sql` when present.
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
import { SynclineError } from '@syncline/protocol';
import type { AppSql } from '../storage/app-sql.js';
import type { MigrateOptions } from '../storage/storage.js';
import { noProgress, type ProgressFactory } from './progress.js';

export interface AppMigrationFile {
  /** The name recorded: the file name without `.sql` / `.mysql.sql`. */
  name: string;
  /** The file applied (the MySQL variant on MySQL when there is one). */
  file: string;
  path: string;
}

const FILE = /^(\d+_[A-Za-z0-9_.-]+?)(\.mysql)?\.sql$/;

/** The migrations of `dir` for this dialect, in name order. */
export function readAppMigrations(dir: string, dialect: AppSql['dialect']): AppMigrationFile[] {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new SynclineError('INVALID_CONFIG', `SYNCLINE_MIGRATIONS_DIR: no such folder: ${root}`);
  }
  const byName = new Map<string, AppMigrationFile>();
  for (const file of readdirSync(root).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE.exec(file);
    if (!m) {
      throw new SynclineError('INVALID_CONFIG', `SYNCLINE_MIGRATIONS_DIR: ${file} is not named NNN_name.sql (or NNN_name.mysql.sql).`, {
        file,
      });
    }
    const name = m[1] as string;
    const variant = m[2] !== undefined;
    if (variant && dialect !== 'mysql') continue;
    // The MySQL variant wins whichever order the two files are listed in.
    if (!variant && byName.has(name)) continue;
    byName.set(name, { name, file, path: join(root, file) });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Applies the pending migrations of `dir`; resolves with the names applied by this call. */
export async function applyAppMigrations(sql: AppSql, dir: string, progress: ProgressFactory = noProgress): Promise<string[]> {
  const files = readAppMigrations(dir, sql.dialect);
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
  const recorded = async (q: Pick<AppSql, 'query'>) =>
    new Set((await q.query<{ name: string }>(`SELECT name FROM ${table}`)).rows.map((r) => r.name));
  const known = await recorded(sql);
  const pending = files.filter((f) => !known.has(f.name));
  if (pending.length === 0) return [];
  const bar = progress('migrations', pending.length);
  const applied: string[] = [];
  try {
    for (const f of pending) {
      const text = readFileSync(f.path, 'utf8');
      const checksum = createHash('sha256').update(text).digest('hex');
      const did = await sql
        .exclusive('app_migrate', async (q) => {
          // Another instance may have applied it while this one waited for the lock.
          if ((await recorded(q)).has(f.name)) return false;
          await q.exec(text);
          await q.query(`INSERT INTO ${table} (name, file, checksum) VALUES ($1, $2, $3)`, [f.name, f.file, checksum]);
          return true;
        })
        .catch((err: unknown) => {
          const why = (err as Error)?.message ?? String(err);
          throw new SynclineError(
            'MIGRATION_FAILED',
            `Migration ${f.file} failed: ${why}${sql.dialect === 'mysql' ? ' (MySQL: statements before the failing one stay applied)' : ''}`,
            { file: f.file, path: f.path, reason: why },
            { cause: err },
          );
        });
      if (did) applied.push(f.name);
      bar.tick(1, f.file);
    }
  } finally {
    bar.done();
  }
  return applied;
}

/** The `Storage.migrate` step that applies `dir`'s migrations (none without a dir), telling `applied` their names. */
export function appMigrationStep(
  dir: string | undefined,
  progress: ProgressFactory | undefined,
  applied: (names: string[]) => void,
): MigrateOptions {
  return dir ? { app: async (sql) => applied(await applyAppMigrations(sql, dir, progress)) } : {};
}
