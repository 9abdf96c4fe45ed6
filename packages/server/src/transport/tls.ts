/**
 * USE_SSL's key and certificate: TLS_CERT_FILE / TLS_KEY_FILE when given; otherwise (esink's users
 * set only USE_SSL=true) a self-signed certificate for localhost, generated once into the data folder
 * and reused until it is about to expire, so HTTPS works at once and says loudly that it is not for browsers.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SynclineError } from '@syncline/protocol';
import type { Config } from '../config/options.js';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** Set when the certificate is the generated self-signed one: where it is (or 'memory'). */
  selfSigned?: string;
}

/** A generated certificate is renewed when it has less than this left. */
const RENEW_BEFORE_MS = 7 * 24 * 3600_000;
const VALID_DAYS = 365;

export async function loadTls(config: Config): Promise<TlsMaterial> {
  if (config.tlsCertFile && config.tlsKeyFile) {
    try {
      return { key: readFileSync(config.tlsKeyFile), cert: readFileSync(config.tlsCertFile) };
    } catch (err) {
      throw new SynclineError('INVALID_CONFIG', `USE_SSL: cannot read TLS_CERT_FILE / TLS_KEY_FILE: ${(err as Error).message}`);
    }
  }
  const dir = config.dataDir.startsWith('memory://') ? undefined : join(config.dataDir, 'tls');
  const certPath = dir && join(dir, 'self-signed-cert.pem');
  const keyPath = dir && join(dir, 'self-signed-key.pem');
  if (certPath && keyPath && existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath);
    if (Date.parse(new X509Certificate(cert).validTo) - Date.now() > RENEW_BEFORE_MS) {
      return { key: readFileSync(keyPath), cert, selfSigned: certPath };
    }
  }
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + VALID_DAYS * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  if (dir && certPath && keyPath) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    writeFileSync(certPath, pems.cert);
  }
  return { key: Buffer.from(pems.private), cert: Buffer.from(pems.cert), selfSigned: certPath ?? 'memory' };
}
