#!/usr/bin/env node
/**
 * `syncline serve` and `syncline migrate`. Flags are derived from the option
 * declarations (config/options.ts): `--port`, `--database-url`, `--data-dir`, …
 */
import { Command, Option } from 'commander';
import { loadConfig } from './config/load-config.js';
import { type ConfigInput, type OptionName, options } from './config/options.js';
import { createServer } from './server.js';
import { createStorage } from './storage/create-storage.js';

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function addConfigFlags(cmd: Command): Command {
  for (const name of Object.keys(options) as OptionName[]) {
    const spec = options[name];
    cmd.addOption(new Option(`--${kebab(name)} <value>`, `${spec.description} [env: ${spec.env.join(', ')}]`));
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
    server = await createServer(flagsToInput(flags));
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

addConfigFlags(program.command('migrate').description('Apply pending migrations and exit')).action(async (flags) => {
  try {
    const config = loadConfig(flagsToInput(flags));
    const storage = await createStorage(config);
    const applied = await storage.migrate();
    await storage.close();
    process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'schema is up to date\n');
  } catch (err) {
    fail(err);
  }
});

program.parseAsync(process.argv).catch(fail);
