/**
 * The budget of issue 16.2: `createClient` + `MemoryStore` + `IndexedDBStore`
 * bundled for the browser from the built packages (as an app's bundler gets
 * them) is at most 50 KB gzipped. Most of the old 120 KB was zod: the client
 * path (protocol's filter, names, limits and errors) imports no schema library,
 * so the bundle must hold none. `npm run bench` prints the same figure.
 */
import { describe, expect, test } from 'vitest';
import { bundleSize, CLIENT_BUNDLE_BUDGET_GZIP, CLIENT_ENTRY } from '../../../bench/bundle-size.js';

describe('client bundle size', () => {
  test('createClient + MemoryStore + IndexedDBStore: at most 50 KB gzipped, no zod', async () => {
    const size = await bundleSize(CLIENT_ENTRY);
    const report = `${size.gzip} bytes gzipped (${size.minified} minified); by package: ${size.packages.map(([p, n]) => `${p} ${n}`).join(', ')}`;
    expect(
      size.packages.map(([p]) => p),
      report,
    ).not.toContain('zod');
    expect(size.gzip, report).toBeLessThanOrEqual(CLIENT_BUNDLE_BUDGET_GZIP);
    // The measurement itself: the bundle holds the client, the protocol and socket.io-client.
    expect(size.packages.map(([p]) => p)).toEqual(expect.arrayContaining(['@syncline/client', '@syncline/protocol', 'socket.io-client']));
  });

  test('the measurement sees zod when an entry imports a protocol schema', async () => {
    // Guards the check above: a schema import (as the client once had) must show up as zod.
    const size = await bundleSize("import { OperationSchema } from '@syncline/protocol';\nexport { OperationSchema };\n");
    expect(size.packages.map(([p]) => p)).toContain('zod');
    expect(size.gzip).toBeGreaterThan(CLIENT_BUNDLE_BUDGET_GZIP);
  });
});
