/**
 * A real cluster for multi-node suites (the issue "many nodes behave like one"): a test-owned
 * `redis-server` on a free port (never the shared one at 6379, so it can be stopped and started),
 * a fresh PostgreSQL database migrated once, and N massenger nodes, each a separate
 * `node dist/src/main.js` process (so kill -9 is a real crash). Every process it spawns is killed
 * by close(), which suites call in afterAll whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { migrate } from '../../src/store/migrate.js';
import { PgDb } from '../../src/store/db-pg.js';
import { freePort } from '../../scripts/support/ports.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { ensureBuilt, startServer, waitUntilServing, type Server } from '../process/proc.js';
import { TestClient } from './client.js';
import { TEST_SECRET, signToken } from './node.js';
import { freshDatabase } from './pg.js';
import { CI } from './services.js';

/** Whether `redis-server` can be run here; with CI=true its absence is an error, as in services.ts. */
export async function hasRedisServer(): Promise<boolean> {
  const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  const ok = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
  if (ok) return true;
  if (CI) throw new Error('CI=true but redis-server is not installed');
  console.warn('\n*** redis-server is not installed: skipping the cluster suites (set CI=true to make this an error) ***\n');
  return false;
}

/** A redis-server this suite owns: no persistence, so a restart loses every key (the worst case). */
export class OwnRedis {
  readonly port: number;
  readonly url: string;
  #child: ChildProcess | null = null;

  constructor(port: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the server on its port and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.running) return;
    this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    // Queued until the server listens: the client retries every 20 ms.
    const probe = new Redis(this.url, { retryStrategy: () => 20, maxRetriesPerRequest: null });
    probe.on('error', () => {});
    try {
      await Promise.race([
        probe.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`redis-server on ${this.port} did not answer within 10 s`)), 10_000)),
      ]);
    } finally {
      probe.disconnect();
    }
  }

  /** SIGSTOP / SIGCONT: Redis unreachable (commands time out) while keeping its keys. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Kills the server (SIGKILL: an abrupt outage) and waits for its exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

export interface ClusterNode {
  /** NODE_ID: n1, n2, ... */
  nodeId: string;
  port: number;
  http: string;
  ws: string;
  /** The running process, or null after kill(). */
  server: Server | null;
  /** Output of every incarnation of this node, for debugging a failure. */
  logs: string[];
}

export interface Cluster {
  redis: OwnRedis;
  /** A pool on the cluster's database, for fixtures and checks. */
  db: PgDb;
  databaseUrl: string;
  nodes: ClusterNode[];
  /** Opens a client on node i and signs it in as userId; rejects on ERROR. */
  signIn(i: number, userId: string, extra?: Record<string, unknown>): Promise<{ client: TestClient; init: Record<string, any> }>;
  /** Opens a client on node i without signing in. */
  open(i: number): Promise<TestClient>;
  /** Closes every client opened so far (afterEach). */
  closeClients(): Promise<void>;
  /** POSTs JSON to node i; `token` for the public routes (Bearer). */
  post(i: number, path: string, body: unknown, token?: string): Promise<{ status: number; body: any }>;
  /** Status of GET path on node i (0 when the node does not answer). */
  status(i: number, path: string): Promise<number>;
  /** Polls GET path on node i until it answers `want`; resolves with the time it took. */
  waitStatus(i: number, path: string, want: number, timeoutMs: number): Promise<number>;
  /** PUBLISH on the cluster's Redis. Returns the number of subscribers that got it. */
  publish(channel: string, text: string): Promise<number>;
  /** Sends a signal to node i's process and waits for it to exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node i again (same NODE_ID and port) and waits for /readyz. */
  restart(i: number): Promise<void>;
  /** True while node i's process runs. */
  alive(i: number): boolean;
  /** The last `chars` of every node's output. */
  logs(chars?: number): string;
  close(): Promise<void>;
}

export interface ClusterOptions {
  nodes?: number;
  /** Extra environment for every node. */
  env?: Record<string, string>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.nodes ?? 3;
  await ensureBuilt();
  const redis = new OwnRedis(await freePort());
  const database = await freshDatabase();
  const db = new PgDb({ connectionString: database.url, maxConnections: 4, connectionTimeoutMs: 5000 });
  const clients: TestClient[] = [];
  let publisher: Redis | null = null;
  const nodes: ClusterNode[] = [];

  const spawnNode = async (node: ClusterNode): Promise<void> => {
    const server = await startServer({
      PORT: String(node.port),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      JWT_SECRET: TEST_SECRET,
      NODE_ID: node.nodeId,
      LOG_LEVEL: 'warn',
      SHUTDOWN_TIMEOUT_MS: '3000',
      ...options.env,
    });
    node.server = server;
    const incarnation = node.logs.length;
    node.logs.push('');
    const record = (chunk: Buffer) => (node.logs[incarnation] += chunk.toString());
    server.child.stdout!.on('data', record);
    server.child.stderr!.on('data', record);
    await waitUntilServing(server, '/readyz', 20_000);
  };

  const cluster: Cluster = {
    redis,
    db,
    databaseUrl: database.url,
    nodes,
    async open(i) {
      const client = await TestClient.open(node(i).ws);
      clients.push(client);
      return client;
    },
    async signIn(i, userId, extra = {}) {
      const client = await cluster.open(i);
      client.send('AUTHENTICATE', { token: await signToken(userId), ...extra });
      // Polled rather than raced with next('ERROR'): a pending next() would swallow the test's first ERROR.
      const answer = () => client.frames.find((f) => f.method === 'INIT' || f.method === 'ERROR');
      await waitUntil(() => answer() !== undefined, `INIT for ${userId} on ${node(i).nodeId}`, 10_000);
      if (answer()!.method === 'ERROR') throw new Error(`sign-in of ${userId} on ${node(i).nodeId}: ${JSON.stringify(answer()!.data)}`);
      const init = await client.next('INIT');
      return { client, init: init.data };
    },
    async closeClients() {
      const open = clients.splice(0);
      for (const c of open) c.close();
      await Promise.all(open.map((c) => Promise.race([c.closed, sleep(2000)])));
    },
    async post(i, path, body, token) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${node(i).http}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      return { status: res.status, body: await res.json().catch(() => null) };
    },
    async status(i, path) {
      try {
        const res = await fetch(`${node(i).http}${path}`, { signal: AbortSignal.timeout(3000) });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    },
    async waitStatus(i, path, want, timeoutMs) {
      let last = -1;
      return waitUntil(async () => (last = await cluster.status(i, path)) === want, () => `${node(i).nodeId} ${path} ${want} (still ${last})`, timeoutMs, 100);
    },
    async publish(channel, text) {
      if (publisher === null) {
        publisher = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
        publisher.on('error', () => {});
      }
      return publisher.publish(channel, text);
    },
    async kill(i, signal = 'SIGKILL') {
      const n = node(i);
      const server = n.server;
      n.server = null;
      if (server === null || server.child.exitCode !== null || server.child.signalCode !== null) return;
      server.child.kill(signal);
      await server.exited;
    },
    async restart(i) {
      const n = node(i);
      if (n.server !== null) await cluster.kill(i, 'SIGTERM');
      await spawnNode(n);
    },
    alive(i) {
      const server = node(i).server;
      return server !== null && server.child.exitCode === null && server.child.signalCode === null;
    },
    logs(chars = 4000) {
      return nodes.map((n) => `--- ${n.nodeId} ---\n${n.logs.join('\n--- restarted ---\n').slice(-chars)}`).join('\n');
    },
    async close() {
      await cluster.closeClients().catch(() => {});
      await Promise.all(nodes.map((_, i) => cluster.kill(i, 'SIGKILL').catch(() => {})));
      if (publisher !== null) publisher.disconnect();
      await redis.stop();
      await db.close().catch(() => {});
      await database.drop().catch(() => {});
    },
  };
  function node(i: number): ClusterNode {
    const n = nodes[i];
    if (n === undefined) throw new Error(`no node ${i}`);
    return n;
  }

  try {
    await redis.start();
    // Once, before any node starts, so the nodes' own migrate() finds nothing to do.
    await migrate(db);
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      nodes.push({ nodeId: `n${i + 1}`, port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/`, server: null, logs: [] });
    }
    await Promise.all(nodes.map((n) => spawnNode(n)));
  } catch (err) {
    const logs = cluster.logs();
    await cluster.close();
    throw new Error(`cluster did not start: ${(err as Error).message}\n${logs}`, { cause: err });
  }
  return cluster;
}

/** Percentile (0..100) of a sample, nearest rank. */
export function percentile(sample: number[], p: number): number {
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}
