/**
 * Service worker of the market demo: keeps the app shell (the page at `/` and the hashed
 * files under /assets/ it loads) in one cache, so a reload without network still opens the
 * page; the data then comes from the tab's IndexedDB replica.
 *
 * - `/` (a navigation): network first, so a new build is picked up at once; the cache only
 *   when the network fails (or hangs for NETWORK_TIMEOUT_MS).
 * - `/assets/*`: cache first (names carry a content hash, so a cached one never goes stale).
 * - Everything else goes to the network untouched and is never cached: /socket.io, /admin
 *   (page and /admin/api), the REST API (/documents, /operations, ...), /metrics.
 * - Bounded: each fresh copy of the page replaces the old one, and cached assets the page no
 *   longer references are deleted.
 */
// The page checks this cache too (src/market/register-sw.ts).
const CACHE = 'syncline-market-shell-v1';
const SHELL = '/';
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener('install', (event) => {
  // Cache the shell now: the page that registered us loaded its files before we existed.
  // A failure here must not discard the worker: activation and the next navigation try again.
  event.waitUntil(
    cacheShell()
      .catch(() => {})
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
      const cache = await caches.open(CACHE);
      if (!(await cache.match(SHELL, { ignoreVary: true }))) await cacheShell().catch(() => {});
    })(),
  );
});

async function cacheShell() {
  const cache = await caches.open(CACHE);
  const request = new Request(SHELL, { headers: { Accept: 'text/html' }, cache: 'no-store' });
  const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
  if (isHtml(response)) await keepShell(cache, response);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && (url.pathname === '/' || url.pathname === '/index.html')) {
    event.respondWith(networkFirst(event, request));
  } else if (url.pathname.startsWith('/assets/')) {
    event.respondWith(cacheFirst(request));
  }
});

async function networkFirst(event, request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (isHtml(response)) event.waitUntil(keepShell(cache, response.clone()).catch(() => {}));
    return response;
  } catch (err) {
    const cached = await cache.match(SHELL, { ignoreVary: true });
    if (cached) return cached;
    throw err;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  // ignoreVary: the page asks with an Origin header (crossorigin scripts), the install step did not.
  const cached = await cache.match(request, { ignoreSearch: true, ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

/** Stores the page, fetches the assets it references that are not cached yet, deletes the ones it no longer does. */
async function keepShell(cache, response) {
  const html = await response.clone().text();
  const assets = new Set([...html.matchAll(/(?:src|href)="(\/assets\/[^"?#]+)"/g)].map((m) => m[1]));
  await Promise.all(
    [...assets].map(async (path) => {
      if (await cache.match(path, { ignoreVary: true })) return;
      const r = await withTimeout(fetch(path), NETWORK_TIMEOUT_MS);
      if (r.ok) await cache.put(path, r);
    }),
  );
  // The page last, so a cached page always finds its assets.
  await cache.put(SHELL, response);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path.startsWith('/assets/') && !assets.has(path)) await cache.delete(request);
  }
}

function isHtml(response) {
  return response.ok && (response.headers.get('content-type') ?? '').includes('text/html');
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('network timeout')), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
