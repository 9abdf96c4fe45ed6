/**
 * The client runs in browsers: bundle `src/index.ts` for the browser the way an
 * app's bundler would (esbuild, platform browser, every dependency included) and
 * fail on any Node built-in (`node:*`, fs, net, crypto, ...) that it would pull
 * in, naming the file and line that imports it. A package that maps a built-in
 * away for browsers (`"browser": {"fs": false}`) resolves and passes.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { BuildOptions, Message } from 'esbuild';
import { build } from 'esbuild';
import { describe, expect, test } from 'vitest';

const client = fileURLToPath(new URL('..', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** `node:*` and the bare built-in names, also subpaths like `fs/promises`. */
function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtins.has(specifier) || builtins.has(specifier.split('/')[0]!);
}

/** Bundles for the browser; returns one line per Node-only import (empty: browser-safe). */
async function nodeOnlyImports(input: Pick<BuildOptions, 'entryPoints' | 'stdin'>): Promise<string[]> {
  // Locations are relative to absWorkingDir.
  const where = (m: Message) => (m.location ? `${m.location.file}:${m.location.line}` : '?');
  try {
    const result = await build({
      ...input,
      absWorkingDir: root,
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      logLevel: 'silent',
      metafile: true,
    });
    // Belt and braces: nothing marked external may be a built-in, and no CommonJS require is left for the browser to fail on.
    const problems: string[] = [];
    for (const [file, meta] of Object.entries(result.metafile.inputs)) {
      for (const imp of meta.imports) if (imp.external && isNodeBuiltin(imp.path)) problems.push(`${file} imports ${imp.path}`);
    }
    if (result.outputFiles.some((f) => f.text.includes('Dynamic require of'))) problems.push('a dynamic require() is left in the bundle');
    return problems;
  } catch (e) {
    const errors = (e as { errors?: Message[] }).errors;
    if (!errors) throw e;
    return errors.map((m) => {
      const specifier = /Could not resolve "([^"]+)"/.exec(m.text)?.[1];
      return specifier && isNodeBuiltin(specifier) ? `${where(m)} imports the Node built-in ${specifier}` : `${where(m)}: ${m.text}`;
    });
  }
}

describe('browser build of @syncline/client', () => {
  test('src/index.ts bundles for the browser without Node built-ins', async () => {
    expect(await nodeOnlyImports({ entryPoints: [`${client}src/index.ts`] })).toEqual([]);
  });

  test('the check names each Node built-in import (node:*, bare names, subpaths) with its file and line', async () => {
    const problems = await nodeOnlyImports({
      stdin: {
        contents: [
          "import { readFileSync } from 'node:fs';",
          "import { createHash } from 'crypto';",
          "import { readFile } from 'fs/promises';",
          'console.log(readFileSync, createHash, readFile);',
        ].join('\n'),
        resolveDir: client,
        sourcefile: 'entry.ts',
        loader: 'ts',
      },
    });
    expect(problems).toEqual([
      'packages/client/entry.ts:1 imports the Node built-in node:fs',
      'packages/client/entry.ts:2 imports the Node built-in crypto',
      'packages/client/entry.ts:3 imports the Node built-in fs/promises',
    ]);
  });
});
