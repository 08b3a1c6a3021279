/**
 * Starts a real massenger node in this process on port 0, on PGlite (temp dir) or a fresh
 * PostgreSQL database, and gives tests what they need: URLs, a Db for fixtures, and tokens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createSigner } from 'fast-jwt';
import pino from 'pino';
import { build, openDb, type Node } from '../../src/build.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Db } from '../../src/store/store.js';
import { TestClient } from './client.js';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TestNode {
  node: Node;
  config: Config;
  http: string;
  ws: string;
  /** A direct database handle for fixtures (the node's own database). */
  db: Pick<Db, 'query'>;
  token(userId: string, ttlSeconds?: number): Promise<string>;
  /** Opens a client and signs it in; resolves with the client and its INIT. */
  signIn(userId: string, extra?: Record<string, unknown>): Promise<{ client: TestClient; init: Record<string, any> }>;
  close(): Promise<void>;
}

export async function signToken(userId: string, ttlSeconds = 3600, secret = TEST_SECRET): Promise<string> {
  return createSigner({ key: secret, algorithm: 'HS256' })({ sub: userId, exp: Math.floor(Date.now() / 1000) + ttlSeconds });
}

/**
 * `env` is applied over test defaults; pass DATABASE_URL for PostgreSQL (else PGlite in a temp
 * dir, or pass DATA_DIR to share one between restarts).
 */
export async function startNode(env: Record<string, string> = {}): Promise<TestNode> {
  const tempDir = env.DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'massenger-test-')) : null;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    SHUTDOWN_TIMEOUT_MS: '2000',
    // The send queue's age bound answers a send that waited 2 s (the default) with UNAVAILABLE. On
    // a loaded machine a batch on the embedded database can take that long, and a suite that expects
    // every send stored would wait for acknowledgements that never come; the overload suites set
    // their own bounds.
    SEND_QUEUE_WAIT_MS: '60000',
    ...(tempDir === null ? {} : { DATA_DIR: tempDir }),
    ...env,
  });
  // The test holds the node's own database handle, so fixtures see exactly what the node sees. On
  // PGlite, a new database is a copy of the suite's migrated one (pglite-template.ts).
  const db = openDb(config, { pgliteTemplate: process.env.TEST_PGLITE_TEMPLATE });
  const node = await build(config, { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), db });
  await node.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = node.app.server.address() as AddressInfo;
  const clients: TestClient[] = [];
  const t: TestNode = {
    node,
    config,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/`,
    db,
    token: (userId, ttl) => signToken(userId, ttl),
    async signIn(userId, extra = {}) {
      const client = await TestClient.open(t.ws);
      clients.push(client);
      client.send('AUTHENTICATE', { token: await signToken(userId), ...extra });
      const reply = await client.next(['INIT', 'ERROR']);
      if (reply.method === 'ERROR') throw new Error(`sign-in failed: ${JSON.stringify(reply.data)}`);
      return { client, init: reply.data };
    },
    async close() {
      for (const c of clients) c.close();
      await node.close();
      if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
    },
  };
  return t;
}

