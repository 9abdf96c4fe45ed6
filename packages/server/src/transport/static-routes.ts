/**
 * The built web pages, without a token (they hold no data; their API calls are
 * authenticated like any other): the admin dashboard at `/admin` whenever
 * apps/demo/dist is built, and with `--demo` (or SYNCLINE_STATIC_DIR) a site
 * whose `index.html` browsers get at `/` (http-routes.ts; other callers keep
 * the JSON index). Hashed `/assets/*` are cached for a year; pages and `sw.js`
 * are revalidated every time, so a new build is picked up at once.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { demoPaths } from '../app/demo.js';
import type { Config } from '../config/options.js';

const LONG_CACHE = 'public, max-age=31536000, immutable';

/** The routes serving pages and files (undefined: no route, a 404). */
const STATIC_ROUTES = new Set([undefined, '/*', '/admin', '/admin/']);

/**
 * Paths of pages and their files: reachable without a token (http-auth.ts).
 * `route` is the matched route: a path that looks like a file but routes
 * elsewhere (percent-encoded) is not public.
 */
export function isStaticPath(path: string, route?: string): boolean {
  const looks = path === '/admin' || path === '/admin/' || path.startsWith('/assets/') || /^\/[^/]+\.[A-Za-z0-9]+$/.test(path);
  return looks && STATIC_ROUTES.has(route);
}

const notBuilt = (what: string) => `<!doctype html><meta charset="utf-8"><title>Syncline: not built</title>
<body style="font-family: system-ui, sans-serif; margin: 3rem; max-width: 40rem">
<h1>The ${what} is not built</h1>
<p>Run <code>npm run build</code> in the Syncline repository, then start the server again.</p>
<p>The API is up: <a href="/health">/health</a>.</p></body>`;

function sendPage(reply: FastifyReply, root: string, file: string, what: string): FastifyReply {
  if (!existsSync(join(root, file)) || typeof reply.sendFile !== 'function') {
    return reply.status(503).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(notBuilt(what));
  }
  return reply.header('cache-control', 'no-cache').sendFile(file, root);
}

/** The `/` route for browsers: true when it answered with the site's page. */
export function sendIndexPage(req: FastifyRequest, reply: FastifyReply, config: Pick<Config, 'staticDir' | 'demo'>): boolean {
  if (!config.staticDir || !(req.headers.accept ?? '').includes('text/html')) return false;
  sendPage(reply, resolve(config.staticDir), 'index.html', config.demo ? 'market demo' : 'site (SYNCLINE_STATIC_DIR)');
  return true;
}

/** `dashboardDir`: the built demo holding `admin/index.html` (tests point it elsewhere). */
export async function registerStaticRoutes(
  app: FastifyInstance,
  config: Pick<Config, 'staticDir'>,
  dashboardDir = demoPaths.dist,
): Promise<void> {
  const dashboard = resolve(dashboardDir);
  const site = config.staticDir ? resolve(config.staticDir) : undefined;
  // The site's files first; the dashboard's assets are found in its dist after them.
  const roots = [...new Set([site, dashboard].filter((d): d is string => d !== undefined && existsSync(d)))];
  if (roots.length > 0) {
    await app.register(fastifyStatic, {
      root: roots,
      prefix: '/',
      wildcard: true,
      index: false,
      redirect: false,
      cacheControl: false,
      // Without a site, the demo's market page is not served (its dist holds both pages).
      allowedPath: (path) => site !== undefined || path !== '/index.html',
      setHeaders(res, path) {
        const hashed = path.includes(`${sep}assets${sep}`);
        res.setHeader('cache-control', hashed ? LONG_CACHE : 'no-cache');
        if (basename(path) === 'sw.js') res.setHeader('service-worker-allowed', '/');
      },
    });
  }
  for (const path of ['/admin', '/admin/']) {
    app.get(path, async (_req, reply) => sendPage(reply, dashboard, join('admin', 'index.html'), 'admin dashboard'));
  }
}
