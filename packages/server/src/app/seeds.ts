/**
 * Seeds (SYNCLINE_SEEDS_DIR, `syncline seed`): the files of the folder in name
 * order, every time they are run (a seed decides itself whether there is
 * anything to do, e.g. only when its table is empty unless `ctx.reset`):
 * - `.sql`: a script;
 * - `.js` / `.mjs`: a module whose default export is `async (ctx: SeedContext) => void`, or a Knex seed
 *   (`exports.seed = async (knex) => ...`), run with Knex on the same connection (knex-bridge.ts).
 * Each file runs in one transaction under the storage's lock `app_seed`.
 * Seeds write with plain SQL, so table capture delivers their rows like any
 * other program's writes.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SynclineError } from '@syncline/protocol';
import type { AppSql } from '../storage/app-sql.js';
import { type KnexLike, withKnex } from './knex-bridge.js';
import { noProgress, type Progress, type ProgressFactory } from './progress.js';

export interface SeedContext {
  /** SQL dialect of the database (PGlite is `postgres`). */
  readonly dialect: AppSql['dialect'];
  /** One statement with `$n` placeholders (translated to `?` on MySQL). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[]; affectedRows: number }>;
  /** A progress bar of `total` units (the CLI draws it on stderr). */
  progress(total: number): Pick<Progress, 'done'> & { tick(n?: number): void };
  /** `--reset`: replace existing rows instead of leaving a filled table alone. */
  readonly reset: boolean;
  /** `--count N`, if given: how many rows the seed should make. */
  readonly count: number | undefined;
  /** A line for the operator (the CLI prints it on stderr). */
  log(message: string): void;
}

export type SeedFunction = (ctx: SeedContext) => Promise<void> | void;

export interface RunSeedsOptions {
  progress?: ProgressFactory;
  reset?: boolean;
  count?: number;
  log?: (message: string) => void;
}

const SEED_FILE = /\.(sql|mjs|cjs|js)$/;

/** The seed files of `dir`, in name order. */
export function readSeeds(dir: string): { file: string; path: string }[] {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new SynclineError('INVALID_CONFIG', `SYNCLINE_SEEDS_DIR: no such folder: ${root}`);
  }
  return readdirSync(root)
    .filter((f) => SEED_FILE.test(f))
    .sort()
    .map((file) => ({ file, path: join(root, file) }));
}

/** Runs every seed of `dir`; resolves with the files run. */
export async function runSeeds(sql: AppSql, dir: string, options: RunSeedsOptions = {}): Promise<string[]> {
  const progress = options.progress ?? noProgress;
  const ran: string[] = [];
  for (const { file, path } of readSeeds(dir)) {
    try {
      if (file.endsWith('.sql')) {
        const text = readFileSync(path, 'utf8');
        await sql.exclusive('app_seed', (q) => q.exec(text));
      } else {
        const mod = (await import(pathToFileURL(path).href)) as { default?: unknown; seed?: unknown };
        // A Knex seed (`exports.seed = async (knex) => ...`, as `knex seed:make` writes it), on the same connection.
        const knexSeed = typeof mod.seed === 'function' ? mod.seed : (mod.default as { seed?: unknown } | undefined)?.seed;
        if (typeof mod.default !== 'function' && typeof knexSeed === 'function') {
          const run = knexSeed as (k: KnexLike) => unknown;
          await sql.exclusive('app_seed', (q) =>
            withKnex(q, sql.dialect, file, async (k) => {
              await run(k);
            }),
          );
          ran.push(file);
          continue;
        }
        if (typeof mod.default !== 'function') {
          throw new SynclineError(
            'SEED_FAILED',
            `Seed ${file} exports neither a default function (export default async (ctx) => { ... }) nor a Knex seed (exports.seed = async (knex) => { ... }).`,
            { file },
          );
        }
        const seed = mod.default as SeedFunction;
        // One transaction under the lock: instances seeding at once run one after the other (the second
        // finds the rows), and a failing seed leaves nothing behind (MySQL: but for DDL).
        await sql.exclusive('app_seed', async (q) => {
          const ctx: SeedContext = {
            dialect: sql.dialect,
            query: (text, params) => q.query(text, params),
            progress: (total) => {
              const bar = progress(`seed ${file}`, total);
              return { tick: (n = 1) => bar.tick(n), done: () => bar.done() };
            },
            reset: options.reset ?? false,
            count: options.count,
            log: options.log ?? (() => {}),
          };
          await seed(ctx);
        });
      }
      ran.push(file);
    } catch (err) {
      if (err instanceof SynclineError && err.code === 'SEED_FAILED') throw err;
      const why = (err as Error)?.message ?? String(err);
      throw new SynclineError('SEED_FAILED', `Seed ${file} failed: ${why}`, { file, reason: why }, { cause: err });
    }
  }
  return ran;
}
