/** Syncline used as a library, from plain Node (the built package), attached to an existing http.Server. */
import { createServer as createHttpServer } from 'node:http';
import { describe, expect, test } from 'vitest';

describe('library use', () => {
  test("import { createServer } from '@syncline/server' attaches to an existing http.Server", async () => {
    const { createServer } = await import('@syncline/server');
    const http = createHttpServer();
    const syncline = await createServer({ server: http, dataDir: 'memory://', logLevel: 'silent', env: {} });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    try {
      const { port } = http.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok', adapter: 'pglite' });
    } finally {
      await syncline.close();
      await new Promise((r) => http.close(r));
    }
  });

  test('the client package imports from plain Node', async () => {
    const client = await import('@syncline/client');
    expect(typeof client.version).toBe('string');
  });
});
