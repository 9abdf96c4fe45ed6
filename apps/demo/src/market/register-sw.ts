/**
 * Registers the service worker (public/sw.js) that keeps the page's shell in a cache, so a
 * reload without network still opens the page (and the replica from IndexedDB).
 * Production builds only: in `vite` dev it would cache modules Vite serves fresh.
 * Sets `<html data-sw="ready">` once a worker is active and the shell is in its cache.
 */
const CACHE = 'syncline-market-shell-v1'; // as in public/sw.js
const CHECK_MS = 500;
const CHECKS = 120;

export function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err: Error) => {
    console.warn('Service worker not registered:', err.message);
  });
  void navigator.serviceWorker.ready.then(async () => {
    for (let i = 0; i < CHECKS; i++) {
      const cache = await caches.open(CACHE);
      if (await cache.match('/', { ignoreVary: true })) {
        document.documentElement.dataset.sw = 'ready';
        return;
      }
      await new Promise((r) => setTimeout(r, CHECK_MS));
    }
  });
}
