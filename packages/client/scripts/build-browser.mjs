/**
 * The browser build: dist/browser/syncline-client.js, one ES module with every
 * dependency inside (the protocol, socket.io-client), for a page that loads the
 * SDK without a bundler (`<script type="importmap">` mapping `@syncline/client`
 * to this file). Apps with a bundler import `@syncline/client` as usual instead.
 */
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/index.js', import.meta.url).pathname],
  outfile: new URL('../dist/browser/syncline-client.js', import.meta.url).pathname,
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  logLevel: 'warning',
});
