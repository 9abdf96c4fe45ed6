import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

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
    // `npm run dev -w @syncline/demo` against a server on :3000.
    proxy: {
      '/socket.io': { target: 'http://localhost:3000', ws: true },
      '/admin/api': 'http://localhost:3000',
      '/metrics': 'http://localhost:3000',
    },
  },
});
