/**
 * The chat page (web/, built by Vite into dist/web/) served at `/`. Each built file becomes a
 * route of its own (`wildcard: false`), so every other path keeps its 404 envelope, and a
 * WebSocket upgrade on `/` never reaches these routes: upgrades are taken on the http.Server's
 * 'upgrade' event by the gateway before any request handler runs.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * dist/web of this package, found from this file whether it runs built (dist/src/http/routes) or
 * from source under a test runner (src/http/routes); null when the page has not been built.
 */
export function pageRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
  const root = path.join(dir, 'dist', 'web');
  return existsSync(path.join(root, 'index.html')) ? root : null;
}

export function pageRoutes(app: FastifyInstance, root: string): void {
  void app.register(fastifyStatic, {
    root,
    wildcard: false,
    index: 'index.html',
    // Vite names assets by content hash, so they never change; the page itself must be re-read
    // to pick up a new build.
    cacheControl: false,
    setHeaders: (res, filePath) => {
      const immutable = filePath.includes(`${path.sep}assets${path.sep}`);
      res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
