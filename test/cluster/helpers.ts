/**
 * Shared pieces of the cluster suites: the suite guard, per-suite cluster lifecycle with logs on
 * failure, and assertions on frames.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Frame, TestClient } from '../support/client.js';
import { hasRedisServer, startCluster, type Cluster, type ClusterOptions } from '../support/cluster.js';
import { needs } from '../support/services.js';

/** CI=true makes a missing PostgreSQL or redis-server an error (services.ts), else the suite is skipped. */
export const clusterAvailable = (await needs('redis')) && (await needs('postgres')) && (await hasRedisServer());

/**
 * Starts a cluster for the enclosing describe: closes clients after each test (printing the nodes'
 * output when it failed) and kills everything in afterAll. Use the returned getter inside tests.
 */
export function useCluster(options: ClusterOptions = {}): () => Cluster {
  let cluster: Cluster | null = null;
  beforeAll(async () => {
    cluster = await startCluster(options);
  }, 120_000);
  afterEach(async (ctx) => {
    if (cluster === null) return;
    if (ctx.task.result?.state === 'fail') console.log(`node output after "${ctx.task.name}":\n${cluster.logs()}`);
    await cluster.closeClients();
  });
  afterAll(async () => {
    await cluster?.close();
  }, 30_000);
  return () => {
    if (cluster === null) throw new Error('cluster not started');
    return cluster;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Frames of `method` on this connection whose data matches. */
export function framesOf(client: TestClient, method: string, match: (data: Record<string, any>) => boolean = () => true): Frame[] {
  return client.frames.filter((f) => f.method === method && match(f.data));
}

/** Waits until every client has at least one frame of `method` matching. */
export async function allGet(clients: TestClient[], method: string, match: (data: Record<string, any>) => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const c of clients) {
    while (framesOf(c, method, match).length === 0) {
      if (Date.now() > deadline) throw new Error(`no ${method} within ${timeoutMs} ms; got ${c.frames.map((f) => f.method).join(',')}`);
      await sleep(20);
    }
  }
}

/** Unique text for a test's message or notification. */
export const tag = (label: string) => `${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
