/**
 * Builds the packages once before the tests: tests import `@syncline/protocol`
 * from its dist, and the multi-instance tests start `packages/server/dist/cli.js`
 * in child processes, so both must match the sources (incremental: fast when current).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-b', 'packages/protocol', 'packages/server'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
}
