/**
 * Builds the packages once before the tests: tests import `@syncline/protocol`
 * from its dist, the multi-instance tests start `packages/server/dist/cli.js`
 * in child processes, and the browser tests load the client bundled into
 * apps/demo/dist, so all must match the sources (tsc is incremental; the vite
 * build of the demo takes a few seconds).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  // vitest sets NODE_ENV=test, which would make vite build React's development bundle (and skip the service worker).
  const run = (args: string[]) =>
    execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
  run([
    fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)),
    '-b',
    'packages/protocol',
    'packages/server',
    'packages/client',
    'packages/react',
  ]);
  // The client's one-file browser build (dist/browser), which the packed-package test loads through an import map.
  run([fileURLToPath(new URL('../packages/client/scripts/build-browser.mjs', import.meta.url))]);
  run([fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url)), 'build', '--logLevel', 'warn', 'apps/demo']);
}
