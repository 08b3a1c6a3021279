/**
 * Unused files, exports and dependencies (`npm run lint`). Knip finds most entry points itself:
 * `src/main.ts` and `src/client/index.ts` from package.json's exports (whose exports are the
 * client library's public API, so they are never reported), the page from web/index.html, tests
 * and the summary reporter from vitest.config.ts. The rest start processes or threads by path.
 */
import type { KnipConfig } from 'knip';

const config: KnipConfig = {
  entry: [
    'scripts/*.ts',
    'bench/*.ts',
    // Loaded as a worker thread by URL (store/db-pglite.ts).
    'src/store/pglite-thread.ts',
    // Run as a child process by test/gateway/churn.test.ts.
    'test/gateway/churn-child.ts',
    // Compiled by tsconfig.client.json only, to prove the client's types fit the DOM's.
    'test/client/dom-fit.ts',
  ],
  project: ['src/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts', 'web/**/*.ts'],
  // A type exported beside the signature that names it (a port's result, a protocol field's type)
  // belongs to that signature, so callers can name it.
  ignoreExportsUsedInFile: { interface: true, type: true },
  ignoreIssues: {
    // migrate.ts spreads each migration module into a list (`{ version: 1, ...base }`), a use of
    // `name` and `statements` that knip does not follow.
    'src/store/migrations/*.ts': ['exports'],
  },
  // A Debian package (.ci/run installs it), not an npm one: the Redis suites start their own servers.
  ignoreBinaries: ['redis-server'],
};

export default config;
