/**
 * The client's browser weight: `createClient` + `MemoryStore` + `IndexedDBStore`
 * imported from `@syncline/client` and bundled the way an app's bundler would
 * (esbuild, platform browser, minified, every dependency included, the packages'
 * `sideEffects: false` honoured), then gzipped (level 9). It bundles the built
 * packages (dist), as an app gets them. The baseline is socket.io-client alone,
 * the transport the client cannot do without. Used by `npm run bench` (row
 * `client bundle`) and by packages/client/test/bundle-size.test.ts (the budget).
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { type Result, resultAtMost } from './report.js';

/** Issue 16.2: at most 50 KB (50,000 bytes) gzipped. */
export const CLIENT_BUNDLE_BUDGET_GZIP = 50_000;

export interface BundleSize {
  minified: number;
  gzip: number;
  /** Minified bytes per package (`@syncline/client`, `socket.io-client`, ...), largest first. */
  packages: [string, number][];
}

const ROOT = new URL('..', import.meta.url).pathname;

/** Bundles `contents` (an ES module importing packages) from the repository root and measures it. */
export async function bundleSize(contents: string): Promise<BundleSize> {
  const result = await build({
    stdin: { contents, resolveDir: ROOT, sourcefile: 'entry.js', loader: 'js' },
    absWorkingDir: ROOT,
    bundle: true,
    minify: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  const packages = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      // node_modules/@scope/name/... or packages/<dir>/... (a workspace seen through its real path)
      const workspace = /^packages\/([^/]+)\//.exec(input)?.[1];
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1] ?? (workspace ? `@syncline/${workspace}` : input);
      packages.set(name, (packages.get(name) ?? 0) + bytesInOutput);
    }
  }
  return {
    minified: code.length,
    gzip: gzipSync(code, { level: 9 }).length,
    packages: [...packages].sort((a, b) => b[1] - a[1]),
  };
}

export const CLIENT_ENTRY =
  "import { createClient, MemoryStore, IndexedDBStore } from '@syncline/client';\nexport { createClient, MemoryStore, IndexedDBStore };\n";
export const SOCKET_IO_ENTRY = "import { io } from 'socket.io-client';\nexport { io };\n";

/** The bench row: gzipped KB of the client bundle vs socket.io-client's alone, budget 50 KB. */
export async function clientBundle(): Promise<Result> {
  const client = await bundleSize(CLIENT_ENTRY);
  const socket = await bundleSize(SOCKET_IO_ENTRY);
  const kb = (n: number) => n / 1000;
  return resultAtMost('client bundle', kb(client.gzip), 'KB gz', kb(socket.gzip), 'KB gz', kb(CLIENT_BUNDLE_BUDGET_GZIP), '≤ 50 KB gz', {
    minifiedKB: kb(client.minified),
    packagesMinifiedKB: Object.fromEntries(client.packages.map(([name, bytes]) => [name, kb(bytes)])),
  });
}
