/**
 * Authentication of REST requests: `Authorization: Bearer <token>` →
 * `request.identity`, before any route runs. Admin endpoints need ADMIN_TOKEN
 * or an admin claim once any authentication is configured.
 */
import { SynclineError } from '@syncline/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Access, type AuthRequest, bearerToken } from '../auth/access.js';
import type { Identity } from '../auth/authenticate.js';
import { isStaticPath } from './static-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request (set by the auth hook; anonymous in open mode). */
    identity: Identity | null;
  }
}

/** Reachable without a token: probes, the index, and /publish (which checks its own SECURITY_TOKEN). */
const PUBLIC = new Set(['/health', '/ping', '/', '/publish']);
const ADMIN = new Set(['/stats', '/compact', '/metrics']);
/** The admin API (admin/admin-routes.ts); `/admin` itself is the dashboard page, public (it asks for the token). */
const ADMIN_PREFIX = '/admin/api/';
const isAdminPath = (p: string | undefined) => p !== undefined && (ADMIN.has(p) || p.startsWith(ADMIN_PREFIX) || p === '/admin/api');

export function authRequest(req: FastifyRequest): AuthRequest {
  return { token: bearerToken(req.headers.authorization), headers: req.headers, ip: req.ip, transport: 'http' };
}

export function registerHttpAuth(app: FastifyInstance, access: Access): void {
  app.decorateRequest('identity', null);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    // The matched route as well as the raw path: a percent-encoded path routes to the same handler.
    const admin = isAdminPath(path) || isAdminPath(req.routeOptions?.url);
    // CORS preflights carry no credentials.
    // Pages and their files too (static-routes.ts): they hold no data.
    if (req.method === 'OPTIONS' || (!admin && (PUBLIC.has(path) || isStaticPath(path, req.routeOptions?.url)))) return;
    const auth = authRequest(req);
    if (admin) {
      if (await access.isAdmin(auth)) return;
      if (auth.token === undefined) throw new SynclineError('UNAUTHORIZED', 'No token: send Authorization: Bearer <ADMIN_TOKEN>.');
      throw new SynclineError('FORBIDDEN', 'Admin endpoints need ADMIN_TOKEN or a token with the admin claim.');
    }
    req.identity = await access.identify(auth);
  });
}
