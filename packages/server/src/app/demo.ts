/**
 * The market demo of the repository (apps/demo): its migrations, seeds and
 * built pages. `--demo` (SYNCLINE_DEMO) turns them on; the dashboard in
 * apps/demo/dist/admin is served whenever it is built.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** apps/demo, from packages/server/{src,dist}/app/. */
export const DEMO_DIR = fileURLToPath(new URL('../../../../apps/demo/', import.meta.url));
export const demoPaths = {
  migrations: `${DEMO_DIR}migrations`,
  seeds: `${DEMO_DIR}seeds`,
  dist: `${DEMO_DIR}dist`,
};
/** The demo's tables, synced as table collections. */
export const DEMO_TABLES = ['category', 'product'];

/** Fills in what `demo: true` implies (options given explicitly win) in a config being loaded. */
export function applyDemo(out: Record<string, unknown>, problems: string[]): void {
  if (!existsSync(demoPaths.migrations)) {
    problems.push(`SYNCLINE_DEMO: the demo is not here (${DEMO_DIR}); it ships with the Syncline repository`);
    return;
  }
  out.migrationsDir ??= demoPaths.migrations;
  out.seedsDir ??= demoPaths.seeds;
  out.staticDir ??= demoPaths.dist;
  const tables = (out.tableNames as string[] | undefined) ?? [];
  out.tableNames = [...tables, ...DEMO_TABLES.filter((t) => !tables.includes(t))];
  // The demo's data is for everyone: default-namespace (esink) clients get its changes too.
  const routing = (out.tableAuthColumnRouting as Record<string, '*' | string[]> | undefined) ?? {};
  out.tableAuthColumnRouting = { ...Object.fromEntries(DEMO_TABLES.map((t) => [t, '*'])), ...routing };
}
