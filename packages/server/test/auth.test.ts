/** The Authenticator against real keys, a real JWKS server and a real AUTH_TABLE on PGlite. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AuthConfig, Authenticator } from '../src/auth/authenticate.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { limits } from './harness.js';

const base: AuthConfig = {
  authTable: undefined,
  authColumn: undefined,
  jwtSecret: undefined,
  jwtPublicKey: undefined,
  jwksUrl: undefined,
  jwtUserClaim: 'sub',
  jwtIssuer: undefined,
  jwtAudience: undefined,
  allowTestToken: false,
  nodeEnv: 'development',
};
const noTable = { findRow: async () => null };
const SECRET = 'a-test-secret-of-reasonable-length';

async function sign(
  key: Uint8Array | KeyObject,
  alg: string,
  claims: Record<string, unknown>,
  opts: { kid?: string; expIn?: string } = {},
) {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg, ...(opts.kid ? { kid: opts.kid } : {}) }).setIssuedAt();
  jwt = jwt.setExpirationTime(opts.expIn ?? '5m');
  return jwt.sign(key);
}
const hs = (claims: Record<string, unknown>, opts?: { expIn?: string }) => sign(new TextEncoder().encode(SECRET), 'HS256', claims, opts);

async function rejects(a: Authenticator, token: unknown, message?: RegExp, code = 'UNAUTHORIZED') {
  const err = await a.authenticate(token).then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string },
  );
  expect(err?.code).toBe(code);
  if (message) expect(err?.message).toMatch(message);
}

describe('HS256 (JWT_SECRET)', () => {
  const a = new Authenticator({ ...base, jwtSecret: SECRET }, noTable);

  test('a valid token gives the sub claim as the user id', async () => {
    expect(await a.authenticate(await hs({ sub: 'u1', role: 'x' }))).toMatchObject({
      userId: 'u1',
      method: 'jwt-secret',
      claims: { role: 'x' },
    });
  });
  test('a numeric claim becomes a string id', async () => {
    expect((await a.authenticate(await hs({ sub: 42 } as Record<string, unknown>))).userId).toBe('42');
  });
  test.each([
    ['wrong secret', () => sign(new TextEncoder().encode('another-secret-entirely-xx'), 'HS256', { sub: 'u1' })],
    ['no sub claim', () => hs({ name: 'x' })],
    [
      'alg none',
      async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u1"}').toString('base64url')}.`,
    ],
  ])('%s → UNAUTHORIZED', async (_n, make) => {
    await rejects(a, await make());
  });
  test('an expired token is TOKEN_EXPIRED (a client gets a new one), at its exp exactly (no clock tolerance on exp)', async () => {
    await rejects(a, await hs({ sub: 'u1' }, { expIn: '-1h' }), undefined, 'TOKEN_EXPIRED');
    const withExp = (exp: number) =>
      new SignJWT({ sub: 'u1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));
    // jose's 5 s tolerance would still accept this one.
    await rejects(a, await withExp(Math.floor(Date.now() / 1000) - 1), undefined, 'TOKEN_EXPIRED');
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect(await a.authenticate(await withExp(exp))).toMatchObject({ userId: 'u1', expiresAt: exp * 1000 });
  });
  test('an expired token signed with another key is UNAUTHORIZED, not TOKEN_EXPIRED', async () => {
    const forged = await new SignJWT({ sub: 'u1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('-1h')
      .sign(new TextEncoder().encode('another-secret-entirely-xx'));
    await rejects(a, forged);
  });
  test.each([undefined, '', 42, 'not-a-jwt', 'x'.repeat(20_000)])('token %j → UNAUTHORIZED', async (t) => {
    await rejects(a, t);
  });
  test('JWT_USER_CLAIM picks another claim; JWT_ISSUER and JWT_AUDIENCE are enforced', async () => {
    const b = new Authenticator({ ...base, jwtSecret: SECRET, jwtUserClaim: 'uid', jwtIssuer: 'me', jwtAudience: 'app' }, noTable);
    expect((await b.authenticate(await hs({ sub: 'no', uid: 'u7', iss: 'me', aud: 'app' }))).userId).toBe('u7');
    await rejects(b, await hs({ uid: 'u7', iss: 'other', aud: 'app' }), /iss/);
    await rejects(b, await hs({ uid: 'u7', iss: 'me', aud: 'other' }), /aud/);
    await rejects(b, await hs({ sub: 'u7', iss: 'me', aud: 'app' }), /uid/);
  });
});

describe('public key (JWT_PUBLIC_KEY)', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

  test('RS256 with PEM text', async () => {
    const a = new Authenticator({ ...base, jwtPublicKey: pem(rsa.publicKey) }, noTable);
    expect((await a.authenticate(await sign(rsa.privateKey, 'RS256', { sub: 'r1' }))).userId).toBe('r1');
    // Another key's signature, and an HS256 token made with the public key as secret (algorithm confusion), fail.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await rejects(a, await sign(other.privateKey, 'RS256', { sub: 'r1' }));
    await rejects(a, await sign(new TextEncoder().encode(pem(rsa.publicKey)), 'HS256', { sub: 'r1' }));
  });

  test('ES256 with a path to a PEM file; escaped newlines (as in .env files) also work', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncline-key-'));
    const file = join(dir, 'ec.pem');
    writeFileSync(file, pem(ec.publicKey));
    const a = new Authenticator({ ...base, jwtPublicKey: file }, noTable);
    expect((await a.authenticate(await sign(ec.privateKey, 'ES256', { sub: 'e1' }))).userId).toBe('e1');
    await rejects(a, await sign(rsa.privateKey, 'RS256', { sub: 'e1' }));
    const inline = new Authenticator({ ...base, jwtPublicKey: pem(ec.publicKey).replace(/\n/g, '\\n') }, noTable);
    expect((await inline.authenticate(await sign(ec.privateKey, 'ES256', { sub: 'e2' }))).userId).toBe('e2');
  });

  test('an unreadable or invalid key fails at start with INVALID_CONFIG', () => {
    expect(() => new Authenticator({ ...base, jwtPublicKey: '/no/such/key.pem' }, noTable)).toThrow(/JWT_PUBLIC_KEY/);
    expect(() => new Authenticator({ ...base, jwtPublicKey: '-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----' }, noTable)).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
  });
});

describe('JWKS (JWKS_URL) served by a local HTTP server', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let server: Server;
  let url: string;
  let fetches = 0;

  beforeAll(async () => {
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec1', alg: 'ES256', use: 'sig' },
    ];
    server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('RS256 and ES256 tokens with a kid are verified with the fetched keys (fetched once)', async () => {
    const a = new Authenticator({ ...base, jwksUrl: url }, noTable);
    expect((await a.authenticate(await sign(rsa.privateKey, 'RS256', { sub: 'j1' }, { kid: 'rsa1' }))).userId).toBe('j1');
    expect((await a.authenticate(await sign(ec.privateKey, 'ES256', { sub: 'j2' }, { kid: 'ec1' }))).userId).toBe('j2');
    expect(fetches).toBe(1);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await rejects(a, await sign(stranger.privateKey, 'RS256', { sub: 'j1' }, { kid: 'rsa1' }));
  });
});

describe('AUTH_TABLE / AUTH_COLUMN on a real table', () => {
  let sql: SqlClient;
  beforeAll(async () => {
    sql = await createPgliteClient();
    await sql.exec(`CREATE TABLE accounts (id integer PRIMARY KEY, session_token text, name text);
      INSERT INTO accounts VALUES (11, 'tok-eleven', 'Eleven'), (12, 'tok-twelve', 'Twelve');`);
  });
  afterAll(() => sql.close());
  // The real Storage seam's lookup (not migrated: findRow needs nothing of Syncline's schema).
  const storage = () => new PostgresStorage(sql, 'syncline', limits);

  test('a token in the column is the row’s user; the token itself is not among the claims', async () => {
    const a = new Authenticator({ ...base, authTable: 'accounts', authColumn: 'session_token' }, storage());
    const who = await a.authenticate('tok-twelve');
    expect(who).toEqual({ userId: '12', claims: { id: 12, name: 'Twelve' }, method: 'table' });
    await rejects(a, 'tok-none', /no matching row/);
    await rejects(a, "' OR 1=1 --");
  });

  test('several methods: a token any of them accepts is accepted', async () => {
    const a = new Authenticator({ ...base, authTable: 'accounts', authColumn: 'session_token', jwtSecret: SECRET }, storage());
    expect((await a.authenticate('tok-eleven')).userId).toBe('11');
    expect((await a.authenticate(await hs({ sub: 'jwt-user' }))).userId).toBe('jwt-user');
    await rejects(a, await hs({ sub: 'x' }, { expIn: '-1h' }), undefined, 'TOKEN_EXPIRED');
  });

  test('the table is looked up in SYNCLINE_TABLE_SCHEMA; a token the column type cannot hold matches nothing', async () => {
    await sql.exec(`CREATE SCHEMA app; CREATE TABLE app.pins (id integer PRIMARY KEY, pin integer UNIQUE);
      INSERT INTO app.pins VALUES (21, 4321);`);
    const inApp = new PostgresStorage(sql, 'syncline', limits, { names: [], schema: 'app' });
    const a = new Authenticator({ ...base, authTable: 'pins', authColumn: 'pin' }, inApp);
    expect((await a.authenticate('4321')).userId).toBe('21');
    await rejects(a, 'not-a-number');
  });

  test('a database that cannot answer is STORAGE_UNAVAILABLE, not UNAUTHORIZED', async () => {
    const down = {
      findRow: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      },
    };
    const a = new Authenticator({ ...base, authTable: 'accounts', authColumn: 'session_token' }, down);
    await expect(a.authenticate('tok-eleven')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
  });
});

describe('TEST token and anonymous connections', () => {
  test('TEST is user -1 only when ALLOW_TEST_TOKEN is on and NODE_ENV is not production', async () => {
    const on = new Authenticator({ ...base, jwtSecret: SECRET, allowTestToken: true }, noTable);
    expect(await on.authenticate('TEST')).toMatchObject({ userId: '-1', method: 'test' });
    await rejects(new Authenticator({ ...base, jwtSecret: SECRET }, noTable), 'TEST');
    await rejects(new Authenticator({ ...base, jwtSecret: SECRET, allowTestToken: true, nodeEnv: 'production' }, noTable), 'TEST');
  });

  test('no method configured: anonymous (null user), whatever the token', async () => {
    const a = new Authenticator(base, noTable);
    expect(a.anonymous).toBe(true);
    expect(await a.authenticate(undefined)).toEqual({ userId: null, claims: {}, method: 'anonymous' });
    expect(await a.authenticate('TEST')).toMatchObject({ userId: null });
    const withTest = new Authenticator({ ...base, allowTestToken: true }, noTable);
    expect(withTest.anonymous).toBe(true);
    expect(await withTest.authenticate('TEST')).toMatchObject({ userId: '-1' });
    expect(new Authenticator({ ...base, jwtSecret: SECRET }, noTable).anonymous).toBe(false);
  });
});
