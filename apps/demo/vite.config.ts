import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const target = process.env.SYNCLINE_URL ?? 'http://localhost:3000';

// Two pages: the market demo at `/` and the admin dashboard at `/admin/`; the server serves dist/.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rollupOptions: {
      input: {
        market: fileURLToPath(new URL('index.html', import.meta.url)),
        admin: fileURLToPath(new URL('admin/index.html', import.meta.url)),
      },
    },
  },
  server: {
    // `npm run dev -w @syncline/demo` against a server on :3000 (or SYNCLINE_URL); `vite preview` uses the same proxy.
    proxy: {
      '/socket.io': { target, ws: true },
      '/admin/api': target,
      '/metrics': target,
      // The dashboard's compaction button.
      '/compact': target,
      // The market's client SDK: initial sync by query pages (REST).
      '/documents': target,
      '/operations': target,
    },
  },
});
