/**
 * Builds the chat page (web/) into dist/web/, which the service serves at `/`
 * (src/http/routes/page.ts). `massenger/client` resolves to the library's source, so the page
 * imports it exactly as an app would and the bundle carries only what the page uses.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export default defineConfig({
  root: here('.'),
  resolve: { alias: { 'massenger/client': here('../src/client/index.ts') } },
  build: { outDir: here('../dist/web'), emptyOutDir: true, target: 'es2022' },
  // `npm start` builds first: keep its output to the server's own lines unless something is wrong.
  logLevel: 'warn',
});
