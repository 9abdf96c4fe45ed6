/** USE_SSL: HTTPS and WSS with TLS_CERT_FILE / TLS_KEY_FILE; plain HTTP on that port is refused. */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type SynclineServer } from '../src/server.js';

const dir = mkdtempSync(join(tmpdir(), 'syncline-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');

function request(get: typeof httpGet, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { rejectUnauthorized: false, timeout: 5000 } as Parameters<typeof httpGet>[1];
    const req = get(url, options, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe('USE_SSL', () => {
  let server: SynclineServer;
  let port: number;
  beforeAll(async () => {
    const r = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    expect(r.status).toBe(0);
    server = await createServer({
      useSsl: 'true',
      tlsCertFile: cert,
      tlsKeyFile: key,
      dataDir: 'memory://',
      logLevel: 'silent',
      port: 0,
      host: '127.0.0.1',
      env: {},
    });
    port = Number(new URL(await server.listen()).port);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('serves HTTPS and refuses plain HTTP on the same port', async () => {
    const ok = await request(httpsGet as unknown as typeof httpGet, `https://127.0.0.1:${port}/health`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: 'ok' });
    const plain = await request(httpGet, `http://127.0.0.1:${port}/health`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain === 'refused' || (typeof plain === 'number' && plain >= 400)).toBe(true);
  });

  test('/sync works over WSS', async () => {
    const socket = connect(`https://127.0.0.1:${port}/sync`, {
      transports: ['websocket'],
      rejectUnauthorized: false,
      forceNew: true,
      reconnection: false,
    });
    try {
      const reply = await socket.timeout(5000).emitWithAck('subscribe', { collection: 'secure' });
      expect(reply).toMatchObject({ ok: true, subscriptionId: expect.any(String) });
    } finally {
      socket.disconnect();
    }
  });

  test.each([
    [{ useSsl: 'yes', tlsKeyFile: join(dir, 'key.pem') }, 'TLS_KEY_FILE is set but TLS_CERT_FILE is not'],
    [{ useSsl: '1', tlsCertFile: join(dir, 'missing.pem'), tlsKeyFile: join(dir, 'missing.pem') }, 'cannot read TLS_CERT_FILE'],
  ])('a misconfiguration fails at start: %j', async (config, message) => {
    await expect(createServer({ ...config, dataDir: 'memory://', logLevel: 'silent', env: {} })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining(message),
    });
  });

  test("USE_SSL=false or '' leaves TLS off", async () => {
    const { loadConfig } = await import('../src/config/load-config.js');
    expect(loadConfig({}, { USE_SSL: 'false' }).useSsl).toBe(false);
    expect(loadConfig({}, { USE_SSL: '' }).useSsl).toBe(false);
    expect(loadConfig({}, {}).useSsl).toBe(false);
  });
  test('USE_SSL alone (as esink users set it): a self-signed certificate in the data folder, a warning, HTTPS; reused at restart', async () => {
    const dataDir = join(dir, 'data');
    const lines: string[] = [];
    const start = () =>
      createServer({
        useSsl: 'true',
        dataDir,
        port: 0,
        host: '127.0.0.1',
        env: {},
        logStream: { write: (line: string) => void lines.push(line) },
      });
    let s = await start();
    const certPath = join(dataDir, 'tls', 'self-signed-cert.pem');
    let first: string;
    try {
      const port = Number(new URL(await s.listen()).port);
      const ok = await request(httpsGet as unknown as typeof httpGet, `https://127.0.0.1:${port}/health`);
      expect(ok.status).toBe(200);
      first = readFileSync(certPath, 'utf8');
      const x509 = new X509Certificate(first);
      expect(x509.subject).toContain('CN=localhost');
      expect(x509.subjectAltName).toContain('DNS:localhost');
      expect(lines.join('')).toContain('serving a self-signed certificate for localhost');
      expect(lines.join('')).toContain('set TLS_CERT_FILE and TLS_KEY_FILE');
    } finally {
      await s.close();
    }
    s = await start();
    try {
      expect(readFileSync(certPath, 'utf8')).toBe(first);
    } finally {
      await s.close();
    }
  }, 120_000);
});
