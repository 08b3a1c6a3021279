/**
 * The soak's side of the server: the users and conversations it needs (bulk SQL, so 10,000 users
 * take seconds), the node process it starts when it targets none, the figures it reads from the
 * node's /metrics, and the open-file limit that N connections need.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '../src/store/migrate.js';
import type { Db } from '../src/store/store.js';
import { freePort } from './support/ports.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/scripts/soak-node.js → the project root and dist/src/main.js. */
const ROOT = resolve(HERE, '../..');
const MAIN = resolve(HERE, '../src/main.js');

export interface Population {
  userIds: string[];
  /** The group conversation of user i (by index), which user i sends to. */
  conversationOf: string[];
}

/**
 * `count` users in conversations of `groupSize` (the last one may be smaller); each user is a
 * friend of the next one in their group (with their private conversation), so sign-ins and
 * churn also exercise presence (USER_JOINED, USER_LEFT). Usernames carry `tag`.
 */
export async function seed(db: Db, count: number, groupSize: number, tag: string): Promise<Population> {
  await migrate(db);
  const ids = async (sql: string, values: unknown[]) => (await db.query<{ id: string }>(sql, values)).rows.map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
  const userIds = await ids(`INSERT INTO users (username) SELECT 'soak_' || $1::text || '_' || g FROM generate_series(1, $2::int) g RETURNING id`, [tag, count]);
  const groups = Math.ceil(count / groupSize);
  const groupIds = await ids('INSERT INTO conversations (created_at) SELECT now() FROM generate_series(1, $1::int) RETURNING id', [groups]);
  const conversationOf = userIds.map((_, i) => groupIds[Math.floor(i / groupSize)]!);
  const memberUsers: string[] = [...userIds];
  const memberConversations: string[] = [...conversationOf];
  // Friends: i and i + 1 within a group.
  const pairs = userIds.flatMap((id, i) => (i + 1 < userIds.length && Math.floor(i / groupSize) === Math.floor((i + 1) / groupSize) ? [[id, userIds[i + 1]!]] : []));
  const privateIds = await ids('INSERT INTO conversations (created_at) SELECT now() FROM generate_series(1, $1::int) RETURNING id', [pairs.length]);
  pairs.forEach(([a, b], k) => {
    memberUsers.push(a!, b!);
    memberConversations.push(privateIds[k]!, privateIds[k]!);
  });
  await db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) SELECT u, c, false FROM unnest($1::bigint[], $2::bigint[]) AS t(u, c)', [memberUsers, memberConversations]);
  await db.query('INSERT INTO friendship (user1_id, user2_id, private_conversation_id, created_at) SELECT a, b, c, now() FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS t(a, b, c)', [
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
    privateIds,
  ]);
  return { userIds, conversationOf };
}

export interface NodeProcess {
  http: string;
  ws: string;
  child: ChildProcess;
  /** The last lines the node wrote (LOG_LEVEL=warn: warnings and errors only). */
  tail(): string[];
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** Starts `node dist/src/main.js` on 127.0.0.1 with `env` and waits for /readyz. */
export async function startNode(env: Record<string, string>): Promise<NodeProcess> {
  const port = await freePort();
  const base: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[name] !== undefined) base[name] = process.env[name]!;
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...base, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(line.slice(0, 300));
    if (lines.length > 20) lines.splice(0, lines.length - 20);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Last resort, whatever ends this process (an uncaught error, a closed stdout): never leave the node behind.
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  void exited.then(() => process.removeListener('exit', orphaned));
  const node: NodeProcess = {
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/`,
    child,
    tail: () => lines,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 120_000;
  while ((await status(`${node.http}/readyz`)) !== 200) {
    if (child.exitCode !== null) throw new Error(`the node exited with ${child.exitCode}:\n${lines.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`the node was not ready within 120 s:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return node;
}

/** The HTTP status of GET url, or 0 when nothing answers within 5 s. */
export async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** What the soak watches on the server, from prom-client's default metrics and the node's own. */
export interface ServerSample {
  rssBytes: number;
  heapUsedBytes: number;
  openFds: number;
  /** WebSocket connections the node holds (massenger_connections). */
  connections: number;
  eventLoopLagP99Ms: number;
}

const METRIC_NAMES = {
  rssBytes: 'massenger_process_resident_memory_bytes',
  heapUsedBytes: 'massenger_nodejs_heap_size_used_bytes',
  openFds: 'massenger_process_open_fds',
  connections: 'massenger_connections',
  eventLoopLagP99Ms: 'massenger_nodejs_eventloop_lag_p99_seconds',
} as const;

/** Reads the node's /metrics; null when it does not answer (or lacks a figure). */
export async function scrape(http: string, metricsToken: string | undefined): Promise<ServerSample | null> {
  let text: string;
  try {
    const headers: Record<string, string> = metricsToken === undefined ? {} : { authorization: `Bearer ${metricsToken}` };
    const res = await fetch(`${http}/metrics`, { headers, signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) return null;
    text = await res.text();
  } catch {
    return null;
  }
  const sample: Partial<ServerSample> = {};
  for (const [field, name] of Object.entries(METRIC_NAMES) as Array<[keyof ServerSample, string]>) {
    const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
    if (match === null) return null;
    sample[field] = Number(match[1]) * (field === 'eventLoopLagP99Ms' ? 1000 : 1);
  }
  return sample as ServerSample;
}

/** The soft and hard limits on open files of this process (Linux), or null elsewhere. */
function fileLimits(): { soft: number; hard: number } | null {
  try {
    const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (line === null) return null;
    const n = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
    return { soft: n(line[1]!), hard: n(line[2]!) };
  } catch {
    return null;
  }
}

/**
 * Makes sure this process (and the node it starts) may open `need` files. Node raises its soft
 * limit to the hard one at start-up, so only the hard limit can be in the way; when it is, the
 * script runs itself again under `ulimit -n` (which needs root or CAP_SYS_RESOURCE) and exits
 * with that run's code. Returns only when the limit is enough.
 */
export function ensureFileLimit(need: number): void {
  const limits = fileLimits();
  if (limits === null || limits.soft >= need) return;
  const hint = `soak: ${need} open files are needed (connections + margin) but the limit is ${limits.soft} (hard ${limits.hard}): raise it (ulimit -n) or lower --connections\n`;
  if (process.env.SOAK_FILE_LIMIT_RAISED === '1') {
    process.stderr.write(hint);
    process.exit(2);
  }
  process.stderr.write(`soak: raising the open-file limit from ${limits.soft} to ${need} (ulimit -n)\n`);
  // Ctrl-C reaches the inner run too (same process group), which cleans up; this one only waits for it.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  const CANNOT_RAISE = 99;
  const run = spawnSync('sh', ['-c', `ulimit -n "$0" 2>/dev/null || exit ${CANNOT_RAISE}; exec "$@"`, String(need), process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, SOAK_FILE_LIMIT_RAISED: '1' },
  });
  if (run.status === CANNOT_RAISE) process.stderr.write(hint);
  process.exit(run.status ?? 1);
}
