/**
 * Run by churn.test.ts as `node --expose-gc --expose-internals dist/test/gateway/churn-child.js`,
 * in a process of its own so the measurement sees this node alone: starts a node (DATABASE_URL, or
 * PGlite), signs connections in with long-lived tokens whose `exp` all differ, closes or drops
 * them, and prints what the process holds before and after as one JSON line.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getHeapSnapshot } from 'node:v8';
import WebSocket from 'ws';
import { createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { scrape } from '../support/metrics.js';
import { signToken, startNode, type TestNode } from '../support/node.js';

const CYCLES = Number(process.env.CHURN_CYCLES ?? 3000);
const WARMUP = Number(process.env.CHURN_WARMUP ?? 300);
const CONCURRENCY = 20;
const USERS = 50;

// Node's timer lists, one per distinct duration: what a setTimeout per connection leaked (defect 1).
const { timerListMap } = createRequire(import.meta.url)('internal/timers') as { timerListMap: object };
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

interface Snapshot {
  timerLists: number;
  /** Bytes of live objects, from a heap snapshot: after a GC, `heapUsed` still varies by ±250 KB here. */
  liveBytes: number;
  heapUsed: number;
  fds: number;
  resources: Record<string, number>;
}

async function snapshot(): Promise<Snapshot> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  return {
    timerLists: Object.keys(timerListMap).length,
    liveBytes: await liveBytes(),
    heapUsed: process.memoryUsage().heapUsed,
    fds: readdirSync('/proc/self/fd').length,
    resources,
  };
}

/** The sum of every object's own size in a heap snapshot. */
async function liveBytes(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString()) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let sum = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) sum += snapshot.nodes[i]!;
  return sum;
}

/** One sign-in: AUTHENTICATE with a token living `ttlSeconds`, wait for INIT, then close or drop. */
async function cycle(t: TestNode, userId: string, ttlSeconds: number, drop: boolean): Promise<void> {
  const ws = new WebSocket(t.ws);
  ws.on('error', () => {});
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const init = new Promise<string>((resolve) => ws.once('message', (raw) => resolve(raw.toString())));
  ws.send(JSON.stringify({ method: 'AUTHENTICATE', data: { token: await signToken(userId, ttlSeconds) } }));
  const first = JSON.parse(await init) as { method: string };
  if (first.method !== 'INIT') throw new Error(`sign-in failed: ${JSON.stringify(first)}`);
  if (drop) ws.terminate();
  else ws.close();
  await closed;
}

async function churn(t: TestNode, users: string[], from: number, count: number): Promise<void> {
  let next = from;
  const end = from + count;
  const worker = async () => {
    while (next < end) {
      const i = next++;
      // 1 to 24 hours, every token a different second: every exp is a distinct duration.
      await cycle(t, users[i % users.length]!, 3600 + ((i * 7919) % 82800), i % 2 === 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** Waits until the node holds no connection and no online user: every disconnect was handled. */
async function settled(t: TestNode): Promise<void> {
  const drained = async () => {
    const value = await scrape(t.http);
    return value('massenger_connections') === 0 && value('massenger_online_users') === 0;
  };
  await waitUntil(drained, 'every disconnect handled', 30_000, 50);
}

const t = await startNode(process.env.DATABASE_URL === undefined ? {} : { DATABASE_URL: process.env.DATABASE_URL });
try {
  const users: string[] = [];
  for (let i = 0; i < USERS; i++) users.push(await createUser(t.db, `churn_${process.pid}_${i}`));
  await churn(t, users, 0, WARMUP);
  await settled(t);
  const before = await snapshot();
  const started = Date.now();
  await churn(t, users, WARMUP, CYCLES);
  await settled(t);
  const churnMs = Date.now() - started;
  const after = await snapshot();
  process.stdout.write(`${JSON.stringify({ cycles: CYCLES, churnMs, before, after })}\n`);
} finally {
  await t.close();
}
