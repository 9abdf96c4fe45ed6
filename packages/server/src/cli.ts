#!/usr/bin/env node
/**
 * `syncline serve`, `migrate`, `rollback`, `seed`, `compact` and `uninstall-capture`. Flags are derived from the
 * option declarations (config/options.ts): `--port`, `--database-url`, `--data-dir`, …
 * (a boolean option's flag alone means true: `--demo`). Progress of long work
 * goes to stderr (cli-progress-bar.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SynclineError } from '@syncline/protocol';
import { Command, Option } from 'commander';
import { appMigrationStep, rollbackAppMigrations } from './app/app-migrations.js';
import { demoPaths } from './app/demo.js';
import { runSeeds } from './app/seeds.js';
import { cliProgressBars } from './cli-progress-bar.js';
import { loadConfig } from './config/load-config.js';
import { type ConfigInput, type OptionName, options } from './config/options.js';
import { createServer } from './server.js';
import { createStorage } from './storage/create-storage.js';
import type { Storage } from './storage/storage.js';

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function addConfigFlags(cmd: Command): Command {
  for (const name of Object.keys(options) as OptionName[]) {
    const spec = options[name];
    const parsed = spec.schema.safeParse('false');
    const boolean = parsed.success && parsed.data === false;
    const arg = boolean ? '[value]' : '<value>';
    cmd.addOption(new Option(`--${kebab(name)} ${arg}`, `${spec.description} [env: ${spec.env.join(', ')}]`));
  }
  return cmd;
}

function flagsToInput(flags: Record<string, unknown>): ConfigInput {
  const input: Record<string, unknown> = {};
  for (const name of Object.keys(options)) if (flags[name] !== undefined) input[name] = flags[name];
  return input as ConfigInput;
}

function fail(err: unknown): never {
  process.stderr.write(`syncline: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}

const program = new Command('syncline').description('Syncline real-time sync server');

addConfigFlags(program.command('serve').description('Start the server (migrates first)')).action(async (flags) => {
  let server: Awaited<ReturnType<typeof createServer>>;
  try {
    server = await createServer({ ...flagsToInput(flags), progress: cliProgressBars() });
  } catch (err) {
    fail(err);
  }
  const address = await server.listen().catch(fail);
  const c = server.config;
  const where =
    c.adapter === 'postgres'
      ? 'PostgreSQL'
      : c.adapter === 'mysql'
        ? `MySQL ${c.mysqlHost}:${c.mysqlPort}/${c.mysqlDatabase}`
        : `embedded PGlite in ${c.dataDir}`;
  const tables = c.tableNames.length > 0 ? `; tables: ${c.tableNames.join(', ')}` : '';
  server.app.log.info(`Syncline listening on ${address} (storage: ${where}${tables})`);
  const port = (server.app.server.address() as { port?: number } | null)?.port ?? c.port;
  const base = ['localhost', '0.0.0.0', '::', '127.0.0.1'].includes(c.host)
    ? `${c.useSsl ? 'https' : 'http'}://localhost:${port}`
    : address;
  if (c.demo) server.app.log.info(`Open ${base}/ for the demo, ${base}/admin for the dashboard`);
  else if (existsSync(join(demoPaths.dist, 'admin', 'index.html'))) server.app.log.info(`The dashboard: ${base}/admin`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info(`${signal}: shutting down`);
    const force = setTimeout(() => {
      server.app.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, server.config.shutdownTimeoutMs);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
});

/** Migrating also runs the application's migrations (SYNCLINE_MIGRATIONS_DIR), with a progress bar. */
const appMigrations = (config: ReturnType<typeof loadConfig>, applied: string[]) =>
  appMigrationStep(config.migrationsDir, cliProgressBars(), (names) => applied.push(...names));

async function withStorage<T>(config: ReturnType<typeof loadConfig>, fn: (storage: Storage) => Promise<T>): Promise<T> {
  const storage = await createStorage(config);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

addConfigFlags(program.command('migrate').description("Apply pending migrations (Syncline's and the application's) and exit")).action(
  async (flags) => {
    try {
      const config = loadConfig(flagsToInput(flags));
      const app: string[] = [];
      const applied = await withStorage(config, (storage) => storage.migrate(appMigrations(config, app)));
      process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'schema is up to date\n');
      if (config.migrationsDir) {
        process.stdout.write(
          app.length ? `applied application migrations: ${app.join(', ')}\n` : 'application migrations are up to date\n',
        );
      }
    } catch (err) {
      fail(err);
    }
  },
);

addConfigFlags(
  program
    .command('rollback')
    .description(
      'Undo the most recently applied application migration of SYNCLINE_MIGRATIONS_DIR (Knex: exports.down; SQL: NNN_name.down.sql) and exit',
    )
    .option('--steps <n>', 'how many migrations to undo, newest first', '1'),
).action(async (flags) => {
  try {
    const config = loadConfig(flagsToInput(flags));
    const dir = config.migrationsDir;
    if (!dir) throw new SynclineError('INVALID_CONFIG', 'syncline rollback needs SYNCLINE_MIGRATIONS_DIR (--migrations-dir).');
    const steps = Number(flags.steps);
    if (!Number.isSafeInteger(steps) || steps < 1) {
      throw new SynclineError('INVALID_CONFIG', `--steps: expected a whole number from 1, got ${JSON.stringify(flags.steps)}`);
    }
    // No migrate: rolling back must not apply what it is asked to undo.
    const undone = await withStorage(config, (storage) => rollbackAppMigrations(storage.appSql(), dir, steps));
    process.stdout.write(undone.length ? `rolled back: ${undone.join(', ')}\n` : 'no application migration to roll back\n');
  } catch (err) {
    fail(err);
  }
});

addConfigFlags(
  program
    .command('seed')
    .description('Migrate, then run the seed files of SYNCLINE_SEEDS_DIR (--demo: the market demo) and exit')
    .option('--reset', 'replace the rows a seed would otherwise leave alone')
    .option('--count <n>', 'how many rows a seed should make (the demo: products; env SEED_PRODUCTS)'),
).action(async (flags) => {
  try {
    const config = loadConfig(flagsToInput(flags));
    const dir = config.seedsDir;
    if (!dir) throw new SynclineError('INVALID_CONFIG', 'syncline seed needs SYNCLINE_SEEDS_DIR (--seeds-dir), or --demo.');
    const count = flags.count === undefined ? undefined : Number(flags.count);
    if (count !== undefined && (!Number.isSafeInteger(count) || count < 0)) {
      throw new SynclineError('INVALID_CONFIG', `--count: expected a whole number, got ${JSON.stringify(flags.count)}`);
    }
    const ran = await withStorage(config, async (storage) => {
      await storage.migrate(appMigrations(config, []));
      return runSeeds(storage.appSql(), dir, {
        progress: cliProgressBars(),
        reset: Boolean(flags.reset),
        ...(count !== undefined ? { count } : {}),
        log: (m) => process.stderr.write(`${m}\n`),
      });
    });
    process.stdout.write(ran.length ? `ran seeds: ${ran.join(', ')}\n` : 'no seed files\n');
  } catch (err) {
    fail(err);
  }
});

addConfigFlags(
  program
    .command('compact')
    .description('Remove change history, operation log entries and tombstones older than N days, and exit')
    .option('--older-than-days <n>', 'age in days of what is removed', '30'),
).action(async (flags) => {
  try {
    const config = loadConfig(flagsToInput(flags));
    const days = Number(flags.olderThanDays);
    if (!Number.isFinite(days) || days < 0 || days > 36500) {
      throw new SynclineError('INVALID_CONFIG', `--older-than-days: expected 0 to 36500, got ${JSON.stringify(flags.olderThanDays)}`);
    }
    // No migrate: compaction must not install or remove capture triggers (that depends on TABLE_NAMES).
    const result = await withStorage(config, async (storage) => {
      let bar: ReturnType<ReturnType<typeof cliProgressBars>> | undefined;
      let reported = 0;
      const res = await storage.compact(days, {
        onProgress: (done, total) => {
          bar ??= cliProgressBars()('compact', total);
          bar.tick(done - reported);
          reported = done;
        },
      });
      bar?.done();
      return res;
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    fail(err);
  }
});

addConfigFlags(
  program
    .command('uninstall-capture')
    .description(
      "Remove every trigger and function Syncline installed on the application's tables (all of them, whatever TABLE_NAMES says) and exit; Syncline's own schema stays. Stop the servers first: a start installs them again for TABLE_NAMES",
    ),
).action(async (flags) => {
  try {
    const config = loadConfig(flagsToInput(flags));
    // No migrate: it would install the triggers of TABLE_NAMES again.
    const removed = await withStorage(config, async (storage) => {
      if (!storage.uninstallCapture) throw new SynclineError('INVALID_CONFIG', `uninstall-capture is not supported on ${storage.adapter}`);
      return storage.uninstallCapture();
    });
    for (const t of removed.triggers) process.stdout.write(`dropped trigger ${t.trigger} on ${t.table}\n`);
    for (const f of removed.functions) process.stdout.write(`dropped function ${f}\n`);
    process.stdout.write(
      `removed ${removed.triggers.length} trigger(s) and ${removed.functions.length} function(s); no replication slot is used (capture is by triggers)\n`,
    );
  } catch (err) {
    fail(err);
  }
});

program.parseAsync(process.argv).catch(fail);
