/**
 * Who is calling, for every transport: REST (`Authorization: Bearer <token>`),
 * the Socket.IO namespaces (`auth: {token}`), and admin endpoints. One object
 * per server, built from the configuration and an optional `authenticate`
 * function given when Syncline is used as a library.
 *
 * Open mode: with no method configured (no AUTH_TABLE, no JWT key, no custom
 * function) every caller is anonymous; the server warns loudly, and refuses to
 * start with NODE_ENV=production unless ALLOW_ANONYMOUS=true.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { normalizeIP } from '@fastify/rate-limit';
import { SynclineError } from '@syncline/protocol';
import type { Config } from '../config/options.js';
import type { Storage } from '../storage/storage.js';
import { type AuthConfig, Authenticator, assertLive, expiryOf, type Identity, MAX_TOKEN_LENGTH } from './authenticate.js';

/** What a custom `authenticate` function sees of a request or a socket handshake. */
export interface AuthRequest {
  /** The bearer token (REST) or `auth.token` (Socket.IO), if any. */
  token: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  transport: 'http' | 'socket';
}

/**
 * Library use: resolve to the caller's identity, or null/undefined when this function does not know the caller.
 * A numeric `claims.exp` (seconds, as in a JWT) is the credential's expiry: enforced like a JWT's.
 */
export type AuthenticateFn = (
  request: AuthRequest,
) => Promise<{ userId: string | number; claims?: Record<string, unknown> } | null | undefined>;

const digest = (s: string) => createHash('sha256').update(s).digest();

const WINDOW_MS = 60_000;
/** Addresses tracked at once; the oldest window is forgotten first. */
const MAX_TRACKED = 20_000;

/**
 * Refused authentications per IP in fixed one-minute windows. Past the limit the
 * address is refused before any token is looked at (no guessing of tokens or of
 * ADMIN_TOKEN, no token-table queries on its behalf) until its window ends.
 */
export class AuthFailures {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws RATE_LIMITED when `ip` used up its refusals for this window. */
  check(ip: string): void {
    if (this.limit === 0) return;
    const w = this.windows.get(normalizeIP(ip));
    if (!w || w.count < this.limit) return;
    const retryAfterMs = w.start + WINDOW_MS - this.now();
    if (retryAfterMs <= 0) return;
    throw new SynclineError(
      'RATE_LIMITED',
      `Too many refused authentications from this address: at most ${this.limit} per minute; retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
      { retryAfterMs },
    );
  }

  fail(ip: string): void {
    if (this.limit === 0) return;
    const key = normalizeIP(ip);
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || t - w.start >= WINDOW_MS) {
      this.windows.delete(key); // re-inserted last: the map stays ordered by window start
      w = { start: t, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > MAX_TRACKED) this.windows.delete(this.windows.keys().next().value as string);
    }
    w.count++;
  }

  get size(): number {
    return this.windows.size;
  }
}

export class Access {
  readonly authenticator: Authenticator;
  readonly failures: AuthFailures;

  constructor(
    private readonly config: AuthConfig & Pick<Config, 'adminToken' | 'adminClaim'> & Partial<Pick<Config, 'authFailuresPerMinute'>>,
    storage: Pick<Storage, 'findRow'>,
    private readonly custom?: AuthenticateFn,
    now?: () => number,
  ) {
    this.authenticator = new Authenticator(config, storage);
    this.failures = new AuthFailures(config.authFailuresPerMinute ?? 0, now);
  }

  /** No way to tell callers apart: everyone is anonymous (local development). */
  get open(): boolean {
    return this.authenticator.anonymous && !this.custom;
  }

  /**
   * The caller's identity; throws UNAUTHORIZED (counted against the caller's IP), TOKEN_EXPIRED,
   * RATE_LIMITED once that IP was refused too often, or STORAGE_UNAVAILABLE when the token table cannot be read.
   */
  async identify(req: AuthRequest): Promise<Identity> {
    this.failures.check(req.ip);
    try {
      const identity = await this.identifyOnce(req);
      // Every method, the custom function's too: an identity past its expiry is refused here, for every transport.
      assertLive(identity);
      return identity;
    } catch (err) {
      if (err instanceof SynclineError && err.code === 'UNAUTHORIZED') this.failures.fail(req.ip);
      throw err;
    }
  }

  private async identifyOnce(req: AuthRequest): Promise<Identity> {
    if (this.custom) {
      if (req.token !== undefined && req.token.length > MAX_TOKEN_LENGTH) {
        throw new SynclineError('UNAUTHORIZED', `The token is longer than ${MAX_TOKEN_LENGTH} characters.`);
      }
      const who = await this.custom(req);
      if (who) {
        const claims = who.claims ?? {};
        return { userId: String(who.userId), claims, method: 'custom', ...expiryOf(claims) };
      }
      // Not known to the custom function: the configured methods may still accept the token.
      if (this.authenticator.anonymous && !(req.token === 'TEST' && this.authenticator.testTokenAllowed)) {
        throw new SynclineError('UNAUTHORIZED', req.token ? 'Invalid token.' : 'No token: send Authorization: Bearer <token>.');
      }
    }
    return this.authenticator.authenticate(req.token);
  }

  /** Admin endpoints: open in open mode; else ADMIN_TOKEN, or an identity carrying the admin claim. */
  async isAdmin(req: AuthRequest): Promise<boolean> {
    if (this.open) return true;
    this.failures.check(req.ip);
    const { adminToken } = this.config;
    if (adminToken && req.token !== undefined && timingSafeEqual(digest(req.token), digest(adminToken))) return true;
    let identity: Identity;
    try {
      identity = await this.identify(req);
    } catch (err) {
      if (err instanceof SynclineError && err.code === 'UNAUTHORIZED') return false;
      throw err;
    }
    const claim = identity.claims[this.config.adminClaim];
    const roles = identity.claims.roles;
    return claim === true || (Array.isArray(roles) && roles.includes(this.config.adminClaim));
  }
}

/** `Authorization: Bearer <token>` → the token (undefined when absent or another scheme). */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = value?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}
