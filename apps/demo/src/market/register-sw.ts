/**
 * Registers the service worker (public/sw.js) that keeps the page's shell in a cache, so a
 * reload without network still opens the page (and the replica from IndexedDB).
 * Production builds only: in `vite` dev it would cache modules Vite serves fresh.
 * Sets `<html data-sw="ready">` once a worker is active (its install cached the shell).
 */
export function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err: Error) => {
    console.warn('Service worker not registered:', err.message);
  });
  void navigator.serviceWorker.ready.then(() => {
    document.documentElement.dataset.sw = 'ready';
  });
}
