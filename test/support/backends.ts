/**
 * The databases a gateway suite runs against: always the embedded one (PGlite), and real
 * PostgreSQL whenever it is reachable (required when CI=true, see services.ts). Each PostgreSQL
 * node gets a database of its own, dropped when the node closes, so suites running in parallel
 * never see each other's rows.
 */
import { startNode, type TestNode } from './node.js';
import { freshDatabase } from './pg.js';
import { needs } from './services.js';

export interface Backend {
  name: 'pglite' | 'postgres';
  /** Starts a node on a database of its own; `env` is applied over the test defaults. */
  start(env?: Record<string, string>): Promise<BackendNode>;
}

export interface BackendNode extends TestNode {
  /** The PostgreSQL database's name (null on PGlite), for suites that act on the server itself. */
  databaseName: string | null;
}

const pglite: Backend = {
  name: 'pglite',
  async start(env = {}) {
    return Object.assign(await startNode(env), { databaseName: null });
  },
};

const postgres: Backend = {
  name: 'postgres',
  async start(env = {}) {
    const database = await freshDatabase();
    let t: TestNode;
    try {
      t = await startNode({ ...env, DATABASE_URL: database.url });
    } catch (err) {
      await database.drop();
      throw err;
    }
    const close = t.close.bind(t);
    return Object.assign(t, {
      databaseName: database.name,
      async close() {
        try {
          await close();
        } finally {
          await database.drop();
        }
      },
    });
  },
};

/**
 * The backends to run a suite on. Use at module top level:
 * `for (const backend of await backends()) describe(\`... (${backend.name})\`, ...)`.
 */
export async function backends(): Promise<Backend[]> {
  return (await needs('postgres')) ? [pglite, postgres] : [pglite];
}

/** PostgreSQL alone, for suites that act on the server (outage); empty when it is not reachable outside CI. */
export async function postgresOnly(): Promise<Backend[]> {
  return (await needs('postgres')) ? [postgres] : [];
}
