/**
 * Who is connecting: a token → a user id. Built once from the configuration and
 * shared by every transport that needs it.
 *
 * Methods (a token is accepted when any configured method accepts it):
 * - table: AUTH_TABLE/AUTH_COLUMN, the row whose column equals the token; its `id` is the user.
 * - JWT: JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM text or file; RS256 or ES256),
 *   JWKS_URL (RS256/ES256 keys fetched and cached by `jose`); the user is the
 *   JWT_USER_CLAIM claim; JWT_ISSUER / JWT_AUDIENCE are checked when set.
 * - test: esink's sample token `TEST` (user -1) when ALLOW_TEST_TOKEN is on
 *   (loadConfig refuses it with NODE_ENV=production).
 * With no table or JWT method configured, every connection is anonymous
 * (`userId: null`): it receives only collections routed `"*"`.
 *
 * Expiry (DESIGN invariant 5): a JWT's `exp` becomes the identity's `expiresAt`,
 * enforced to the second (jose's clock tolerance applies to `nbf`/`iat` only). An
 * expired token is TOKEN_EXPIRED, not UNAUTHORIZED, so a client knows to get a new
 * one; connections opened before end at `expiresAt` (transport/socket-expiry.ts),
 * and every write decision checks it (Policy.authorizer).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SynclineError } from '@syncline/protocol';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import type { Config } from '../config/options.js';
import type { Storage } from '../storage/storage.js';
import { toSynclineError } from '../transport/errors.js';

export const TEST_TOKEN = 'TEST';
export const TEST_USER_ID = '-1';
/** Longer tokens are refused before any work is done on them. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export type AuthMethod = 'table' | 'jwt-secret' | 'jwt-public-key' | 'jwks' | 'test' | 'anonymous' | 'custom';

export interface Identity {
  /** The user id as a string; null for an anonymous connection. */
  userId: string | null;
  /** JWT claims, or the AUTH_TABLE row without its token column; server-side only. */
  claims: Record<string, unknown>;
  method: AuthMethod;
  /** When the credential stops being valid (ms since the epoch): a JWT's `exp`; absent: it does not expire. */
  expiresAt?: number;
}

/** Whether what `who` allowed has ended (its credential expired). */
export function isExpired(who: Pick<Identity, 'expiresAt'>, now: number = Date.now()): boolean {
  return who.expiresAt !== undefined && now >= who.expiresAt;
}

/** Throws TOKEN_EXPIRED once `who`'s credential has expired. */
export function assertLive(who: Pick<Identity, 'expiresAt'>, now: number = Date.now()): void {
  if (isExpired(who, now)) throw new SynclineError('TOKEN_EXPIRED');
}

/** `exp` (seconds, as in a JWT) as `expiresAt` (ms); absent when it is not a finite number. */
export function expiryOf(claims: Record<string, unknown>): { expiresAt?: number } {
  const exp = claims.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? { expiresAt: exp * 1000 } : {};
}

export type AuthConfig = Pick<
  Config,
  | 'authTable'
  | 'authColumn'
  | 'jwtSecret'
  | 'jwtPublicKey'
  | 'jwksUrl'
  | 'jwtUserClaim'
  | 'jwtIssuer'
  | 'jwtAudience'
  | 'allowTestToken'
  | 'nodeEnv'
>;

interface JwtMethod {
  method: AuthMethod;
  key: Uint8Array | KeyObject | JWTVerifyGetKey;
  algorithms: string[];
}

/** Thrown inside a method when the token is simply not one it accepts. */
class Rejected extends Error {}

export class Authenticator {
  /** The configured methods, in the order they are tried (`test` first). */
  readonly methods: readonly AuthMethod[];
  private readonly jwt: JwtMethod[] = [];

  constructor(
    private readonly config: AuthConfig,
    private readonly storage: Pick<Storage, 'findRow'>,
  ) {
    if (config.jwtSecret) this.jwt.push({ method: 'jwt-secret', key: new TextEncoder().encode(config.jwtSecret), algorithms: ['HS256'] });
    if (config.jwtPublicKey) this.jwt.push(publicKeyMethod(config.jwtPublicKey));
    if (config.jwksUrl) this.jwt.push({ method: 'jwks', key: createRemoteJWKSet(new URL(config.jwksUrl)), algorithms: ['RS256', 'ES256'] });
    const methods: AuthMethod[] = [];
    if (this.testTokenAllowed) methods.push('test');
    methods.push(...this.jwt.map((j) => j.method));
    if (config.authTable && config.authColumn) methods.push('table');
    this.methods = methods;
  }

  /** No table or JWT method is configured: connections are anonymous. */
  get anonymous(): boolean {
    return !this.methods.some((m) => m !== 'test');
  }

  get testTokenAllowed(): boolean {
    return this.config.allowTestToken && this.config.nodeEnv !== 'production';
  }

  /**
   * The identity behind `token`; throws UNAUTHORIZED, TOKEN_EXPIRED (a JWT that would be accepted but for its
   * `exp`), or STORAGE_UNAVAILABLE when AUTH_TABLE cannot be read.
   */
  async authenticate(token: unknown): Promise<Identity> {
    if (token === TEST_TOKEN && this.testTokenAllowed) return { userId: TEST_USER_ID, claims: { name: 'Test User' }, method: 'test' };
    if (this.anonymous) return { userId: null, claims: {}, method: 'anonymous' };
    if (typeof token !== 'string' || token.length === 0) {
      throw new SynclineError('UNAUTHORIZED', 'No token: connect with io(url, {auth: {token}}).');
    }
    if (token.length > MAX_TOKEN_LENGTH)
      throw new SynclineError('UNAUTHORIZED', `The token is longer than ${MAX_TOKEN_LENGTH} characters.`);

    const reasons: string[] = [];
    let failure: unknown;
    if (this.jwt.length > 0 && isJwtShaped(token)) {
      for (const j of this.jwt) {
        try {
          return await this.verifyJwt(j, token);
        } catch (err) {
          // Only a token whose signature this key verified gets as far as the `exp` check.
          if (err instanceof joseErrors.JWTExpired || (err instanceof SynclineError && err.code === 'TOKEN_EXPIRED')) {
            throw new SynclineError('TOKEN_EXPIRED');
          }
          reasons.push(`${j.method}: ${(err as Error).message}`);
        }
      }
    } else if (this.jwt.length > 0) reasons.push('JWT: not a JWT');
    if (this.config.authTable && this.config.authColumn) {
      try {
        return await this.lookUp(this.config.authTable, this.config.authColumn, token);
      } catch (err) {
        if (err instanceof Rejected) reasons.push(`table: ${err.message}`);
        else failure = err;
      }
    }
    // The database could not answer: say so rather than calling a maybe-valid token invalid.
    if (failure !== undefined) throw toSynclineError(failure);
    throw new SynclineError('UNAUTHORIZED', `Invalid token (${reasons.join('; ')}).`);
  }

  private async verifyJwt(j: JwtMethod, token: string): Promise<Identity> {
    const options = {
      algorithms: j.algorithms,
      clockTolerance: 5,
      ...(this.config.jwtIssuer ? { issuer: this.config.jwtIssuer } : {}),
      ...(this.config.jwtAudience ? { audience: this.config.jwtAudience } : {}),
    };
    // jwtVerify is overloaded on the key's type; each branch picks one overload.
    const { payload } = typeof j.key === 'function' ? await jwtVerify(token, j.key, options) : await jwtVerify(token, j.key, options);
    const id = payload[this.config.jwtUserClaim];
    if (!isId(id)) throw new Rejected(`claim "${this.config.jwtUserClaim}" is missing or not a string/number`);
    const identity: Identity = { userId: String(id), claims: payload as Record<string, unknown>, method: j.method, ...expiryOf(payload) };
    // jose allowed clockTolerance past `exp`; the token ends at `exp` itself, as the connections it opens do.
    assertLive(identity);
    return identity;
  }

  private async lookUp(table: string, column: string, token: string): Promise<Identity> {
    const row = await this.storage.findRow(table, column, token);
    if (!row) throw new Rejected('no matching row');
    if (!isId(row.id)) throw new Rejected('the matching row has no id');
    const { [column]: _token, ...claims } = row;
    return { userId: String(row.id), claims, method: 'table' };
  }
}

export function createAuthenticator(config: AuthConfig, storage: Pick<Storage, 'findRow'>): Authenticator {
  return new Authenticator(config, storage);
}

function isId(v: unknown): v is string | number | bigint {
  return (typeof v === 'string' && v.length > 0) || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint';
}

function isJwtShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/** JWT_PUBLIC_KEY: PEM text, or a path to a PEM file; the algorithm follows from the key (RSA → RS256, P-256 → ES256). */
function publicKeyMethod(value: string): JwtMethod {
  let pem = value;
  if (!value.includes('-----BEGIN')) {
    try {
      pem = readFileSync(value, 'utf8');
    } catch (err) {
      throw new SynclineError('INVALID_CONFIG', `JWT_PUBLIC_KEY: neither PEM text nor a readable file: ${(err as Error).message}`);
    }
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem.replace(/\\n/g, '\n'));
  } catch (err) {
    throw new SynclineError('INVALID_CONFIG', `JWT_PUBLIC_KEY: not a PEM public key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType === 'rsa') return { method: 'jwt-public-key', key, algorithms: ['RS256'] };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { method: 'jwt-public-key', key, algorithms: ['ES256'] };
  }
  throw new SynclineError('INVALID_CONFIG', 'JWT_PUBLIC_KEY: expected an RSA key (RS256) or a P-256 EC key (ES256).');
}
