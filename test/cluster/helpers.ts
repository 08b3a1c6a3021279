/**
 * Shared pieces of the cluster suites: the suite guard, per-suite cluster lifecycle with logs on
 * failure, assertions on frames, and fences. A node's publishes go out through its one Redis
 * connection and Redis pushes them to each subscriber in the order it ran them, so what a node
 * publishes after an event reaches every node after that event: that is what the fences here
 * stand on, to show that something did not arrive.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { waitUntil } from '../../scripts/support/wait.js';
import type { Frame, TestClient } from '../support/client.js';
import { hasRedisServer, startCluster, type Cluster, type ClusterOptions } from '../support/cluster.js';
import { openConnections } from '../support/metrics.js';
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

/** Frames of `method` on this connection whose data matches. */
export function framesOf(client: TestClient, method: string, match: (data: Record<string, any>) => boolean = () => true): Frame[] {
  return client.frames.filter((f) => f.method === method && match(f.data));
}

/** Waits until every client has at least one frame of `method` matching. */
export async function allGet(clients: TestClient[], method: string, match: (data: Record<string, any>) => boolean, timeoutMs = 5000): Promise<void> {
  const missing = () => clients.filter((c) => framesOf(c, method, match).length === 0);
  await waitUntil(() => missing().length === 0, () => `${method} on every client; one got ${missing()[0]?.frames.map((f) => f.method).join(',')}`, timeoutMs, 20);
}

/**
 * A fence after messages: `sender` sends one more to the conversation, and this waits until every
 * client has it. Messages of a conversation reach every node in stored order, and whatever the
 * sender's node published before reaches them before it, so each client then has every copy of
 * what came earlier. Returns the fence message's id.
 */
export async function messageFence(sender: TestClient, conversationId: string, clients: TestClient[]): Promise<string> {
  const reply = await sender.request('SEND_MESSAGE', { conversationId, content: tag('fence') }, 'MESSAGE_SENT');
  if (reply.method !== 'MESSAGE_SENT') throw new Error(`fence refused: ${JSON.stringify(reply.data)}`);
  const id = reply.data.message.id as string;
  await allGet(clients, 'MESSAGE_SENT', (d) => d.message.id === id);
  return id;
}

/**
 * A fence after what node i published: a notification to `userIds` POSTed to node i (published
 * after everything before it), waited for on every client. Returns its content.
 */
export async function notificationFence(c: Cluster, i: number, userIds: string[], clients: TestClient[]): Promise<string> {
  const content = tag('fence');
  const res = await c.post(i, '/socket/notifications', { users: userIds, content });
  if (res.status !== 200) throw new Error(`fence refused: ${res.status} ${JSON.stringify(res.body)}`);
  await allGet(clients, 'NOTIFICATION_SENT', (d) => d.content === content);
  return content;
}

/**
 * Proves that node i has told `watchers` every presence change of `userId` it began so far, and
 * returns the connection that proved it. Once the node has handled the closes (it holds `open`
 * connections: a client's own close event does not prove that), a new connection of the user signs
 * in there; a sign-in waits for the user's earlier transitions on that node (core/roster.ts runs
 * them in turn), and what they published is then followed by a notification fence from that node.
 * The user must be online on another node (else this sign-in is itself a change).
 */
export async function presenceFence(c: Cluster, i: number, open: number, userId: string, watchers: TestClient[], watcherIds: string[]): Promise<TestClient> {
  let last = NaN;
  await waitUntil(async () => (last = await openConnections(c.nodes[i]!.http)) === open, () => `${open} open connections on node ${i + 1} (${last})`, 5000, 20);
  const { client } = await c.signIn(i, userId);
  await notificationFence(c, i, watcherIds, watchers);
  return client;
}

/** Unique text for a test's message or notification. */
export const tag = (label: string) => `${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
