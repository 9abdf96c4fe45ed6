/**
 * What the browser tests share: Debian's Chromium driven by playwright-core,
 * a demo server (embedded PGlite in a temporary folder) that can be stopped
 * and started again on the same port and data, and screenshots kept as test
 * artifacts in test-results/screenshots/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type SynclineServer } from '@syncline/server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { freePort } from '../../../test/free-port.js';
import { chromiumPath } from '../../../test/services.js';

/** The flags the machine needs: no sandbox as root, and no background connections to a closed network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
}

export const artifacts = fileURLToPath(new URL('../../../test-results/screenshots/', import.meta.url));

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifacts, { recursive: true });
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** `syncline serve --demo` in this process, on embedded PGlite in its own folder. */
export class DemoServer {
  private server: SynclineServer | undefined;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'syncline-demo-'));
  private constructor(
    readonly port: number,
    private readonly extra: Record<string, unknown>,
  ) {}

  static async start(extra: Record<string, unknown> = {}): Promise<DemoServer> {
    const d = new DemoServer(await freePort(), extra);
    await d.up();
    return d;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get instance(): SynclineServer {
    if (!this.server) throw new Error('the demo server is stopped');
    return this.server;
  }

  async up(): Promise<void> {
    this.server = await createServer({
      demo: true,
      dataDir: this.dataDir,
      port: this.port,
      host: '127.0.0.1',
      logLevel: 'warn',
      env: {},
      ...this.extra,
    });
    await this.server.listen();
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.close();
  }

  async close(): Promise<void> {
    await this.down();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
