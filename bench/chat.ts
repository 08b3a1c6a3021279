/**
 * Chat load benchmark: the service as a black box over loopback.
 *
 *   npm run bench -- [--nodes 1,2,3] [--groups 20] [--members 5] [--messages 50] [--window 4]
 *                    [--rate 0] [--size 0] [--timeout 30] [--redis] [--env KEY=VALUE]...
 *
 * For each node count N it: creates a fresh PostgreSQL database, migrates it and creates
 * `groups` conversations of `members` users with plain SQL; starts N `node dist/src/main.js`
 * processes on free 127.0.0.1 ports (REDIS_URL when N > 1 or --redis) and waits for /readyz;
 * signs in one WebSocket client per member, member i on node i mod N; then every member sends
 * `messages` SEND_MESSAGE to its conversation, at most `window` unacknowledged at a time (and at
 * most `rate` messages/s in total when rate > 0). Every MESSAGE_SENT received by any client is a
 * delivery; its latency is receive time − the send time written in the content (one process, one
 * clock). At the end it checks against the database that every member received every message of
 * its conversation exactly once and in increasing id order, prints one row per N, stops the nodes,
 * drops the database and prints the command that reproduces the figures.
 *
 * Environment: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
 * names the server and a database to connect to for CREATE/DROP DATABASE; BENCH_REDIS_URL (else
 * TEST_REDIS_URL, else redis://127.0.0.1:6379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createSigner } from 'fast-jwt';
import WebSocket from 'ws';
import { PgDb } from '../src/store/db-pg.js';
import { migrate } from '../src/store/migrate.js';
import { createDatabase } from '../scripts/support/database.js';
import { createGroup, createUser } from '../scripts/support/fixtures.js';
import { freePort } from '../scripts/support/ports.js';
import { waitUntil } from '../scripts/support/wait.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/bench/chat.js → project root and dist/src/main.js. */
const ROOT = resolve(HERE, '../..');
const MAIN = resolve(HERE, '../src/main.js');

const JWT_SECRET = `bench-${randomBytes(24).toString('hex')}`;
const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  nodes: number[];
  groups: number;
  members: number;
  messages: number;
  window: number;
  /** Total messages per second over all senders; 0: as fast as the window allows. */
  rate: number;
  /** Extra characters of padding in each message's content. */
  size: number;
  /** Seconds the send-and-deliver phase of one run may take before it is cut short. */
  timeout: number;
  redis: boolean;
  /** Extra environment for the nodes, e.g. RATE_LIMIT_PER_SEC=1000. */
  env: string[];
}

const USAGE = `usage: npm run bench -- [options]
  --nodes 1,2,3     node counts; the scenario runs once per count      (default 1)
  --groups G        conversations                                      (default 20)
  --members M       members per conversation (distinct users)          (default 5)
  --messages K      messages each member sends                         (default 50)
  --window W        unacknowledged messages per sender                 (default 4)
  --rate R          total messages/s over all senders, 0 = unbounded   (default 0)
  --size B          padding characters added to each message content   (default 0)
  --timeout S       seconds one run's send phase may take              (default 30)
  --redis           use Redis even with one node (always with more)
  --env KEY=VALUE   extra environment for the nodes (repeatable)
env: BENCH_DATABASE_URL (${PG_URL}), BENCH_REDIS_URL (${REDIS_URL})`;

function parseOptions(argv: string[]): Options {
  const o: Options = { nodes: [1], groups: 20, members: 5, messages: 50, window: 4, rate: 0, size: 0, timeout: 30, redis: false, env: [] };
  const int = (name: string, v: string | undefined, min: number, max: number): number => {
    if (v === undefined || !/^[0-9]+$/.test(v)) throw new Error(`--${name} needs a whole number`);
    const n = Number(v);
    if (n < min || n > max) throw new Error(`--${name} must be between ${min} and ${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => value ?? argv[++i];
    switch (arg) {
      case '--nodes': {
        const v = next();
        if (v === undefined || !/^[0-9]+(,[0-9]+)*$/.test(v)) throw new Error('--nodes needs a list like 1,2,3');
        o.nodes = v.split(',').map((s) => int('nodes', s, 1, 16));
        break;
      }
      case '--groups': o.groups = int('groups', next(), 1, 10_000); break;
      case '--members': o.members = int('members', next(), 1, 255); break;
      case '--messages': o.messages = int('messages', next(), 1, 1_000_000); break;
      case '--window': o.window = int('window', next(), 1, 10_000); break;
      case '--rate': o.rate = int('rate', next(), 0, 10_000_000); break;
      case '--size': o.size = int('size', next(), 0, 3900); break;
      case '--timeout': o.timeout = int('timeout', next(), 1, 3600); break;
      case '--redis': o.redis = true; break;
      case '--env': {
        const v = next();
        if (v === undefined || !/^[A-Z_][A-Z0-9_]*=/.test(v)) throw new Error('--env needs KEY=VALUE');
        o.env.push(v);
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return o;
}

function reproduce(o: Options): string {
  const parts = [
    'npm run bench --',
    `--nodes ${o.nodes.join(',')}`,
    `--groups ${o.groups}`,
    `--members ${o.members}`,
    `--messages ${o.messages}`,
    `--window ${o.window}`,
    `--rate ${o.rate}`,
    `--size ${o.size}`,
    `--timeout ${o.timeout}`,
    ...(o.redis ? ['--redis'] : []),
    ...o.env.map((e) => `--env ${shellQuote(e)}`),
  ];
  const envs: string[] = [];
  if (process.env.BENCH_DATABASE_URL !== undefined || process.env.TEST_DATABASE_URL !== undefined) envs.push(`BENCH_DATABASE_URL=${shellQuote(PG_URL)}`);
  if (process.env.BENCH_REDIS_URL !== undefined || process.env.TEST_REDIS_URL !== undefined) envs.push(`BENCH_REDIS_URL=${shellQuote(REDIS_URL)}`);
  return [...envs, ...parts].join(' ');
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------
// Cleanup: everything started is registered here and undone on success, error and SIGINT.

const cleanups: Array<() => Promise<void>> = [];
const children = new Set<ChildProcess>();

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    await fn().catch((err: unknown) => process.stderr.write(`bench: cleanup failed: ${String(err)}\n`));
  }
}

function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\nbench: ${signal}, stopping nodes and dropping the database\n`);
  const hard = setTimeout(() => process.exit(130), 15_000);
  hard.unref();
  void runCleanups().finally(() => process.exit(130));
}
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
// Last resort: never leave a node behind.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// Database and Redis

interface Group {
  conversationId: string;
  memberIds: string[];
}

/**
 * The schema (the project's migration) and the scenario's users and conversations. Ids start at
 * a per-run offset: the nodes' Redis state (presence sets, the per-conversation order gate) is keyed
 * by user and conversation id under a fixed prefix, so ids must not repeat those of an earlier run.
 */
async function seed(db: PgDb, o: Options, idBase: number): Promise<Group[]> {
  await migrate(db);
  await db.query(`SELECT setval(pg_get_serial_sequence('users', 'id'), $1)`, [idBase]);
  await db.query(`SELECT setval(pg_get_serial_sequence('conversations', 'id'), $1)`, [idBase]);
  const groups: Group[] = [];
  for (let g = 0; g < o.groups; g++) {
    const memberIds: string[] = [];
    for (let m = 0; m < o.members; m++) memberIds.push(await createUser(db, `bench_${g}_${m}`));
    groups.push({ conversationId: await createGroup(db, memberIds), memberIds });
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// Nodes

interface NodeProc {
  index: number;
  port: number;
  child: ChildProcess;
  /** Log lines (LOG_LEVEL=warn, so every one is a warning or worse) and stderr, first few kept. */
  lines: string[];
  lineCount: number;
  exited: { code: number | null; signal: string | null } | null;
  stopping: boolean;
}

/** Settings of the service (spec §4) that must not leak in from the caller's shell. */
const NODE_VARS = [
  'PORT', 'HOST', 'DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_FILE', 'JWT_SECRET',
  'INTERNAL_API_TOKEN', 'NODE_ID', 'LOG_LEVEL',
];

async function startNode(index: number, databaseUrl: string, redis: boolean, o: Options, runTag: string): Promise<NodeProc> {
  const port = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !NODE_VARS.includes(k)) env[k] = v;
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    JWT_SECRET,
    LOG_LEVEL: 'warn',
    NODE_ID: `bench-${runTag}-${index}`,
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...(redis ? { REDIS_URL } : {}),
  });
  for (const kv of o.env) {
    const eq = kv.indexOf('=');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const node: NodeProc = { index, port, child, lines: [], lineCount: 0, exited: null, stopping: false };
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      node.lineCount++;
      if (node.lines.length < 8) node.lines.push(line.length > 400 ? line.slice(0, 400) + '…' : line);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  child.on('exit', (code, signal) => {
    node.exited = { code, signal };
    children.delete(child);
    if (!node.stopping) process.stderr.write(`bench: node ${index} exited unexpectedly (code ${code}, signal ${signal})\n`);
  });
  return node;
}

async function waitReady(node: NodeProc, deadlineMs: number): Promise<void> {
  let last = '';
  const ready = async () => {
    if (node.exited !== null) {
      throw new Error(`node ${node.index} exited before it was ready (code ${node.exited.code}):\n  ${node.lines.join('\n  ')}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${node.port}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return true;
      last = `${res.status} ${(await res.text()).slice(0, 200)}`;
    } catch (err) {
      last = String((err as Error).message);
    }
    return false;
  };
  await waitUntil(ready, () => `node ${node.index} ready (last /readyz: ${last}):\n  ${node.lines.join('\n  ')}`, deadlineMs, 100);
}

async function stopNode(node: NodeProc): Promise<void> {
  if (node.exited !== null) return;
  node.stopping = true;
  const exited = new Promise<void>((r) => node.child.once('exit', () => r()));
  node.child.kill('SIGTERM');
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface NodeStats {
  cpuSeconds: number;
  storeCount: number;
  storeSum: number;
  errors: string;
  closes: string;
}

/** A few figures from the node's /metrics (Prometheus text). */
async function scrape(node: NodeProc): Promise<NodeStats | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${node.port}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const num = (re: RegExp) => {
      let sum = 0;
      for (const m of text.matchAll(re)) sum += Number(m[1]);
      return sum;
    };
    const labelled = (metric: string, label: string) =>
      [...text.matchAll(new RegExp(`^${metric}\\{${label}="([^"]+)"\\} ([0-9.e+-]+)$`, 'gm'))]
        .filter((m) => Number(m[2]) > 0)
        .map((m) => `${m[1]}:${Number(m[2])}`)
        .join(' ');
    return {
      cpuSeconds: num(/^massenger_process_cpu_seconds_total ([0-9.e+-]+)$/gm),
      storeCount: num(/^massenger_store_seconds_count\{operation="append_message"\} ([0-9.e+-]+)$/gm),
      storeSum: num(/^massenger_store_seconds_sum\{operation="append_message"\} ([0-9.e+-]+)$/gm),
      errors: labelled('massenger_errors_total', 'code'),
      closes: labelled('massenger_closes_total', 'code'),
    };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

interface Member {
  index: number;
  userId: string;
  conversationId: string;
  node: number;
  ws: WebSocket;
  /** Ids of the MESSAGE_SENT frames received, in arrival order (all of its one conversation). */
  received: string[];
  /** MESSAGE_SENT frames for another conversation than its own (must stay 0). */
  foreign: number;
  sent: number;
  acked: number;
  failed: number;
  outstanding: number;
  timer: NodeJS.Timeout | null;
  closed: { code: number; reason: string } | null;
}

interface RunState {
  t0: number;
  lastAck: number;
  lastDelivery: number;
  deliveries: number;
  latencies: number[];
  ackLatencies: number[];
  errors: Map<string, number>;
  otherFrames: Map<string, number>;
  badFrames: number;
  sending: boolean;
  onProgress: () => void;
}

function openMember(url: string, m: Omit<Member, 'ws' | 'received' | 'foreign' | 'sent' | 'acked' | 'failed' | 'outstanding' | 'timer' | 'closed'>, state: RunState, o: Options): Promise<Member> {
  return new Promise((resolveP, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const member: Member = { ...m, ws, received: [], foreign: 0, sent: 0, acked: 0, failed: 0, outstanding: 0, timer: null, closed: null };
    let signedIn = false;
    const fail = (why: string) => {
      if (!signedIn) {
        signedIn = true;
        reject(new Error(`member ${m.index} (user ${m.userId}, node ${m.node}): ${why}`));
      }
    };
    const authTimer = setTimeout(() => fail('no INIT within 10 s'), 10_000);
    ws.on('error', (err) => fail(err.message));
    ws.on('close', (code, reason) => {
      member.closed = { code, reason: reason.toString() };
      fail(`closed ${code} before INIT`);
      state.onProgress();
    });
    ws.on('open', () => {
      void token(m.userId).then((t) => ws.send(JSON.stringify({ method: 'AUTHENTICATE', data: { token: t } })));
    });
    ws.on('message', (raw: Buffer) => {
      const now = performance.now();
      let frame: { method?: string; data?: any };
      try {
        frame = JSON.parse(raw.toString('utf8'));
      } catch {
        state.badFrames++;
        return;
      }
      switch (frame.method) {
        case 'MESSAGE_SENT': {
          const msg = frame.data?.message;
          if (msg === undefined) {
            state.badFrames++;
            return;
          }
          if (msg.conversationId !== member.conversationId) {
            member.foreign++;
            return;
          }
          member.received.push(String(msg.id));
          state.deliveries++;
          state.lastDelivery = now;
          const sentAt = Number.parseFloat(String(msg.content));
          if (Number.isFinite(sentAt)) state.latencies.push(now - sentAt);
          if (frame.data.requestId !== undefined && msg.author === member.userId) {
            member.acked++;
            member.outstanding--;
            state.lastAck = now;
            if (Number.isFinite(sentAt)) state.ackLatencies.push(now - sentAt);
            pump(member, state, o);
          }
          state.onProgress();
          return;
        }
        case 'INIT':
          if (!signedIn) {
            signedIn = true;
            clearTimeout(authTimer);
            resolveP(member);
          }
          return;
        case 'ERROR': {
          const code = String(frame.data?.code);
          state.errors.set(code, (state.errors.get(code) ?? 0) + 1);
          if (!signedIn) {
            fail(`ERROR ${code}: ${frame.data?.message}`);
            return;
          }
          if (frame.data?.requestId !== undefined) {
            member.failed++;
            member.outstanding--;
            pump(member, state, o);
            state.onProgress();
          }
          return;
        }
        default: {
          const method = String(frame.method);
          state.otherFrames.set(method, (state.otherFrames.get(method) ?? 0) + 1);
        }
      }
    });
  });
}

async function token(userId: string): Promise<string> {
  return createSigner({ key: JWT_SECRET, algorithm: 'HS256' })({ sub: userId, exp: Math.floor(Date.now() / 1000) + 3600 });
}

/**
 * Sends as many of the member's messages as its window (and, with --rate, its schedule) allows.
 * With a rate, sender s sends message k at t0 + (k + s / senders) × senders / rate.
 */
function pump(member: Member, state: RunState, o: Options): void {
  if (!state.sending || member.closed !== null) return;
  const senders = o.groups * o.members;
  const interval = o.rate > 0 ? (1000 * senders) / o.rate : 0;
  while (member.sent < o.messages && member.outstanding < o.window) {
    if (interval > 0) {
      const due = state.t0 + (member.sent + member.index / senders) * interval;
      const wait = due - performance.now();
      if (wait > 0) {
        if (member.timer === null) {
          member.timer = setTimeout(() => {
            member.timer = null;
            pump(member, state, o);
          }, Math.ceil(wait));
        }
        return;
      }
    }
    const k = member.sent++;
    member.outstanding++;
    // The content starts with the send time (ms on this process's clock): receivers parse it.
    const content = `${performance.now().toFixed(3)} u${member.userId} #${k}${o.size > 0 ? ' ' + 'x'.repeat(o.size) : ''}`;
    member.ws.send(JSON.stringify({ method: 'SEND_MESSAGE', data: { conversationId: member.conversationId, content, requestId: `r${k}` } }));
  }
}

// ---------------------------------------------------------------------------------------------
// One run

interface Result {
  nodes: number;
  redis: boolean;
  sent: number;
  acked: number;
  failed: number;
  stored: number;
  deliveries: number;
  expectedDeliveries: number;
  storeSeconds: number;
  deliverSeconds: number;
  latency: { p50: number; p95: number; p99: number; max: number };
  ack: { p50: number; p99: number };
  order: string;
  timedOut: boolean;
  notes: string[];
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function runOnce(n: number, o: Options): Promise<Result> {
  const redis = n > 1 || o.redis;
  const runTag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const myCleanups: Array<() => Promise<void>> = [];
  const defer = (fn: () => Promise<void>) => {
    cleanups.push(fn);
    myCleanups.push(fn);
  };
  const undo = async () => {
    while (myCleanups.length > 0) {
      const fn = myCleanups.pop()!;
      const i = cleanups.lastIndexOf(fn);
      if (i >= 0) cleanups.splice(i, 1);
      await fn().catch((err: unknown) => process.stderr.write(`bench: cleanup failed: ${String(err)}\n`));
    }
  };
  try {
    const database = await createDatabase(PG_URL, 'massenger_bench');
    defer(() => database.drop());
    const db = new PgDb({ connectionString: database.url, maxConnections: 2 });
    defer(() => db.close());
    // Ids unique across runs: millisecond clock × 1000 stays a safe integer for years.
    const idBase = Date.now() * 1000;
    const groups = await seed(db, o, idBase);

    if (redis) {
      // Removes this run's order-gate keys (the only Redis state not cleaned by the nodes' shutdown).
      defer(async () => {
        const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
        try {
          await client.connect();
          const keys = groups.flatMap((g) => [`massenger:conv:{${g.conversationId}}:seq`, `massenger:conv:{${g.conversationId}}:pending`]);
          for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
        } finally {
          client.disconnect();
        }
      });
    }

    const nodes: NodeProc[] = [];
    defer(async () => void (await Promise.all(nodes.map(stopNode))));
    for (let i = 0; i < n; i++) nodes.push(await startNode(i, database.url, redis, o, runTag));
    await Promise.all(nodes.map((node) => waitReady(node, 30_000)));

    const state: RunState = {
      t0: 0,
      lastAck: 0,
      lastDelivery: 0,
      deliveries: 0,
      latencies: [],
      ackLatencies: [],
      errors: new Map(),
      otherFrames: new Map(),
      badFrames: 0,
      sending: false,
      onProgress: () => {},
    };
    const members: Member[] = [];
    defer(async () => {
      for (const m of members) if (m.timer !== null) clearTimeout(m.timer);
      await Promise.all(
        members.map(
          (m) =>
            new Promise<void>((r) => {
              if (m.ws.readyState === WebSocket.CLOSED) return r();
              const t = setTimeout(() => (m.ws.terminate(), r()), 2000);
              m.ws.once('close', () => (clearTimeout(t), r()));
              m.ws.close(1000);
            }),
        ),
      );
    });
    let index = 0;
    const pending: Array<Promise<Member>> = [];
    for (const g of groups) {
      for (const userId of g.memberIds) {
        const i = index++;
        const node = nodes[i % n]!;
        pending.push(openMember(`ws://127.0.0.1:${node.port}/`, { index: i, userId, conversationId: g.conversationId, node: i % n }, state, o));
      }
    }
    const settled = await Promise.allSettled(pending);
    for (const s of settled) if (s.status === 'fulfilled') members.push(s.value);
    const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (refused !== undefined) throw refused.reason;

    const load = loadavg()[0]!;
    const before = await Promise.all(nodes.map(scrape));
    const cpuBefore = process.cpuUsage();

    // Send phase: ends when every sender is answered and every expected delivery arrived, when no
    // delivery came for 3 s after the last answer (something was lost), or at the timeout.
    const expectedFor = () => members.reduce((sum, m) => sum + m.acked * o.members, 0);
    const finished = () => members.every((m) => m.acked + m.failed === o.messages || m.closed !== null);
    let timedOut = false;
    await new Promise<void>((resolveP) => {
      let done = false;
      let quiet: NodeJS.Timeout | null = null;
      const end = () => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        if (quiet !== null) clearTimeout(quiet);
        state.sending = false;
        resolveP();
      };
      const deadline = setTimeout(() => {
        timedOut = true;
        end();
      }, o.timeout * 1000);
      state.onProgress = () => {
        if (!finished()) return;
        if (state.deliveries >= expectedFor()) return end();
        if (quiet !== null) clearTimeout(quiet);
        quiet = setTimeout(end, 3000);
      };
      state.t0 = performance.now();
      state.sending = true;
      for (const m of members) pump(m, state, o);
    });
    const cpu = process.cpuUsage(cpuBefore);
    const after = await Promise.all(nodes.map(scrape));
    const tEnd = performance.now();

    // Truth: what the database stored, per conversation in id order.
    const { rows } = await db.query<{ id: string; conversation_id: string }>('SELECT id, conversation_id FROM messages ORDER BY id');
    const stored = new Map<string, string[]>();
    for (const r of rows) {
      const list = stored.get(String(r.conversation_id)) ?? [];
      list.push(String(r.id));
      stored.set(String(r.conversation_id), list);
    }
    const check = checkOrder(members, stored);
    const order = check.text;

    const notes: string[] = [];
    if (check.pair !== null) {
      // Evidence for the first inversion: each message's predecessor and where its author was connected.
      const { rows: pair } = await db.query<{ id: string; prev_id: string | null; author_id: string }>(
        'SELECT id, prev_id, author_id FROM messages WHERE id = ANY($1::bigint[]) ORDER BY id',
        [check.pair],
      );
      const nodeOf = new Map(members.map((m) => [m.userId, m.node]));
      notes.push(
        'first inversion: ' +
          pair.map((r) => `message ${r.id} (prev_id ${r.prev_id ?? 'null'}, author ${r.author_id} on node${nodeOf.get(String(r.author_id))})`).join(', '),
      );
    }
    const sent = members.reduce((s, m) => s + m.sent, 0);
    const acked = members.reduce((s, m) => s + m.acked, 0);
    const failed = members.reduce((s, m) => s + m.failed, 0);
    if (timedOut) notes.push(`timed out after ${o.timeout} s with ${sent - acked - failed} sends unanswered`);
    if (rows.length !== acked) notes.push(`database holds ${rows.length} messages, ${acked} were acknowledged`);
    if (state.errors.size > 0) notes.push(`ERROR frames: ${[...state.errors].map(([c, k]) => `${c}×${k}`).join(' ')}`);
    if (state.badFrames > 0) notes.push(`${state.badFrames} frames were not JSON / not a Message`);
    const foreign = members.reduce((s, m) => s + m.foreign, 0);
    if (foreign > 0) notes.push(`${foreign} MESSAGE_SENT for a conversation the member is not in`);
    if (state.otherFrames.size > 0) notes.push(`other frames: ${[...state.otherFrames].map(([c, k]) => `${c}×${k}`).join(' ')}`);
    const closedEarly = members.filter((m) => m.closed !== null);
    if (closedEarly.length > 0) {
      const codes = new Map<number, number>();
      for (const m of closedEarly) codes.set(m.closed!.code, (codes.get(m.closed!.code) ?? 0) + 1);
      notes.push(`${closedEarly.length} clients closed by the server: ${[...codes].map(([c, k]) => `${c}×${k}`).join(' ')}`);
    }
    const nodeCpu = nodes.map((_, i) => {
      const b = before[i];
      const a = after[i];
      return b && a ? a.cpuSeconds - b.cpuSeconds : Number.NaN;
    });
    const phase = (tEnd - state.t0) / 1000;
    notes.push(
      `load average (1 min) at start ${load.toFixed(2)}; cpu over ${phase.toFixed(2)} s: bench ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, ` +
        nodes.map((_, i) => `node${i} ${nodeCpu[i]!.toFixed(2)} s`).join(', '),
    );
    const storeMs = nodes.map((_, i) => {
      const b = before[i];
      const a = after[i];
      return b && a && a.storeCount > b.storeCount ? ((a.storeSum - b.storeSum) / (a.storeCount - b.storeCount)) * 1000 : Number.NaN;
    });
    if (storeMs.some((x) => !Number.isNaN(x))) {
      notes.push(`append_message mean (node /metrics store_seconds): ${storeMs.map((x, i) => `node${i} ${x.toFixed(2)} ms`).join(', ')}`);
    }
    for (const [i, a] of after.entries()) {
      if (a === null) notes.push(`node${i}: /metrics did not answer`);
      else {
        if (a.errors !== '') notes.push(`node${i} errors_total: ${a.errors}`);
        if (a.closes !== '') notes.push(`node${i} closes_total: ${a.closes}`);
      }
    }
    for (const node of nodes) {
      if (node.lineCount > 0) notes.push(`node${node.index} logged ${node.lineCount} warning/error lines, first: ${node.lines[0]}`);
      if (node.exited !== null) notes.push(`node${node.index} exited during the run (code ${node.exited.code}, signal ${node.exited.signal})`);
    }

    const lat = Float64Array.from(state.latencies).sort();
    const ackLat = Float64Array.from(state.ackLatencies).sort();
    return {
      nodes: n,
      redis,
      sent,
      acked,
      failed,
      stored: rows.length,
      deliveries: state.deliveries,
      expectedDeliveries: rows.length * o.members,
      storeSeconds: ((state.lastAck || tEnd) - state.t0) / 1000,
      deliverSeconds: ((state.lastDelivery || tEnd) - state.t0) / 1000,
      latency: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99), max: lat.length > 0 ? lat[lat.length - 1]! : Number.NaN },
      ack: { p50: percentile(ackLat, 50), p99: percentile(ackLat, 99) },
      order,
      timedOut,
      notes,
    };
  } finally {
    await undo();
  }
}

interface OrderCheck {
  /** "ok", or the first violation in words. */
  text: string;
  /** For the first out-of-order pair: the earlier-received and the later-received message ids. */
  pair: [string, string] | null;
  /** Totals over all members. */
  inversions: number;
  duplicates: number;
  missing: number;
  unexpected: number;
  membersAffected: number;
}

/**
 * Compares each member's deliveries with the stored messages of its conversation: every one
 * exactly once, in increasing id order. Reports the first violation and counts all of them.
 */
function checkOrder(members: Member[], stored: Map<string, string[]>): OrderCheck {
  const c: OrderCheck = { text: 'ok', pair: null, inversions: 0, duplicates: 0, missing: 0, unexpected: 0, membersAffected: 0 };
  const first = (text: string) => {
    if (c.text === 'ok') c.text = text;
  };
  for (const m of members) {
    const who = `member ${m.index} (user ${m.userId}, node ${m.node}, conversation ${m.conversationId})`;
    const expected = stored.get(m.conversationId) ?? [];
    const expectedSet = new Set(expected);
    const got = m.received;
    const seen = new Set<string>();
    let bad = false;
    let highest = -1n;
    for (let i = 0; i < got.length; i++) {
      const id = got[i]!;
      if (seen.has(id)) {
        c.duplicates++;
        bad = true;
        first(`${who} got message ${id} twice (second at position ${i})`);
        continue;
      }
      seen.add(id);
      if (!expectedSet.has(id)) {
        c.unexpected++;
        bad = true;
        first(`${who} got message ${id}, which is not stored in its conversation`);
      }
      const n = BigInt(id);
      if (n < highest) {
        c.inversions++;
        bad = true;
        if (c.text === 'ok') c.pair = [got[i - 1]!, id];
        first(`${who} got message ${id} after ${got[i - 1]} (position ${i} of ${got.length})`);
      } else highest = n;
    }
    const missing = expected.filter((id) => !seen.has(id));
    if (missing.length > 0) {
      c.missing += missing.length;
      bad = true;
      first(`${who} missed ${missing.length} of ${expected.length} stored messages (first ${missing[0]})`);
    }
    if (bad) c.membersAffected++;
  }
  if (c.text !== 'ok') {
    c.text +=
      `; in all: ${c.membersAffected} of ${members.length} members affected, ${c.inversions} deliveries below an id already received, ` +
      `${c.duplicates} duplicates, ${c.missing} missing, ${c.unexpected} unexpected`;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Output

function table(results: Result[]): string {
  const head = ['nodes', 'redis', 'sent', 'stored', 'deliveries', 'deliv/s', 'stored/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'ack p50', 'ack p99', 'order'];
  const fmt = (x: number, d = 1) => (Number.isNaN(x) ? '-' : x.toFixed(d));
  const rows = results.map((r) => [
    String(r.nodes),
    r.redis ? 'yes' : 'no',
    String(r.sent),
    String(r.stored),
    `${r.deliveries}/${r.expectedDeliveries}`,
    fmt(r.deliveries / r.deliverSeconds, 0),
    fmt(r.acked / r.storeSeconds, 0),
    fmt(r.latency.p50),
    fmt(r.latency.p95),
    fmt(r.latency.p99),
    fmt(r.latency.max),
    fmt(r.ack.p50),
    fmt(r.ack.p99),
    r.order === 'ok' ? 'ok' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const senders = o.groups * o.members;
  process.stdout.write(
    `massenger chat bench: ${o.groups} conversations × ${o.members} members, ${o.messages} messages per member ` +
      `(${senders * o.messages} messages, ${senders * o.messages * o.members} deliveries per run), window ${o.window}, ` +
      `rate ${o.rate === 0 ? 'unbounded' : `${o.rate}/s`}, content ~${30 + o.size} chars\n`,
  );
  const results: Result[] = [];
  let failed = false;
  for (const n of o.nodes) {
    const started = performance.now();
    try {
      const r = await runOnce(n, o);
      results.push(r);
      process.stdout.write(
        `\n[${n} node${n > 1 ? 's' : ''}${r.redis ? ', redis' : ''}] done in ${((performance.now() - started) / 1000).toFixed(1)} s; order: ${r.order}\n` +
          r.notes.map((x) => `  ${x}\n`).join(''),
      );
      if (r.order !== 'ok' || r.timedOut || r.failed > 0) failed = true;
    } catch (err) {
      failed = true;
      process.stdout.write(`\n[${n} node${n > 1 ? 's' : ''}] FAILED: ${(err as Error).message}\n`);
    }
  }
  if (results.length > 0) {
    process.stdout.write(`\n${table(results)}\n`);
    process.stdout.write(
      'deliveries = MESSAGE_SENT frames received by all clients (sender copies included); latency = receive − send on one clock;\n' +
        'ack = latency of the sender\'s own MESSAGE_SENT; deliv/s and stored/s over the time to the last delivery / last ack.\n',
    );
    for (const r of results) process.stdout.write(`order (${r.nodes} node${r.nodes > 1 ? 's' : ''}): ${r.order}\n`);
  }
  process.stdout.write(`\nreproduce: ${reproduce(o)}\n`);
  process.exitCode = failed ? 1 : 0;
}

main()
  .catch(async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await runCleanups();
  });
