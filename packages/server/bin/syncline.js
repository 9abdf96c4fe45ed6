#!/usr/bin/env node
// The `syncline` bin is a committed file, not dist/cli.js itself: npm links bins
// before `prepare` builds dist/, and skips a bin whose target does not exist yet,
// so `npx syncline` failed on a fresh clone ("could not determine executable to run").
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('syncline: dist/cli.js is missing; build it first (npm run build at the repository root)\n');
  process.exit(1);
}
await import(cli.href);
