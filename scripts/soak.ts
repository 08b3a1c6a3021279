/**
 * Soak: many connections held for a long time with churn and chat, watching whether the server's
 * memory and open files stay flat. Not part of the test suite (it runs for minutes).
 *
 *   npm run soak -- [--connections 10000] [--duration 600] [--interval 10] [--rate 100] [--churn N]
 *                   [--group 10] [--warmup S] [--tolerance 0.2] [--database URL | --target URL]
 *
 * It creates `connections` users (in conversations of `group`, each a friend of the next), starts
 * `node dist/src/main.js` on 127.0.0.1 (on an embedded database in a temp dir, or on a fresh
 * database of the PostgreSQL server --database names), signs every user in, and for `duration`
 * seconds sends `rate` messages/s from random users and replaces `churn` connections/s (half
 * closed cleanly, half dropped without a close frame; each signs in again with lastMessageId).
 * Every interval it prints what the clients saw and what the node's /metrics says (RSS, heap in
 * use, open file descriptors, event loop lag). At the end it compares the node's figures at the
 * end with their level after warm-up and prints the verdict: FLAT (exit 0) or NOT FLAT (exit 1).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSigner } from 'fast-jwt';
import { openDb } from '../src/build.js';
import { loadConfig } from '../src/config.js';
import { Fleet, type FleetInterval } from './soak-fleet.js';
import { ensureFileLimit, scrape, seed, startNode, status, type ServerSample } from './soak-node.js';
import { judge, type Timed } from './soak-verdict.js';
import { createDatabase } from './support/database.js';

const USAGE = `usage: npm run soak -- [options]
  --connections N   connections held (env SOAK_CONNECTIONS)                    (default 10000)
  --duration S      seconds of soak once all are signed in (env SOAK_DURATION_S) (default 600, at most 86400)
  --interval S      seconds between report lines                                (default 10)
  --rate R          messages per second, from random users                      (default 100)
  --churn C         connections replaced per second                             (default connections / 200)
  --group M         members per conversation                                    (default 10)
  --warmup S        seconds after which the baseline is taken                   (default 20% of duration)
  --tolerance F     growth of RSS and heap allowed after warm-up, as a fraction (default 0.2)
  --database URL    run the node on a fresh database of this PostgreSQL server  (default: embedded, temp dir)
  --target URL      soak a running node at http://127.0.0.1:PORT instead; needs DATABASE_URL (its database,
                    for the soak's users), JWT_SECRET (to sign their tokens), METRICS_TOKEN if it has one`;

interface Options {
  connections: number;
  durationS: number;
  intervalS: number;
  rate: number;
  churn: number;
  group: number;
  warmupS: number;
  tolerance: number;
  database: string | null;
  target: string | null;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (!/^--(connections|duration|interval|rate|churn|group|warmup|tolerance|database|target)$/.test(flag)) throw new Error(`unknown option ${flag}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    values.set(flag.slice(2), value);
  }
  const num = (name: string, fallback: number, min: number, max: number, envName?: string): number => {
    const text = values.get(name) ?? (envName === undefined ? undefined : env[envName]);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(text)}`);
    return n;
  };
  const connections = Math.round(num('connections', 10_000, 1, 100_000, 'SOAK_CONNECTIONS'));
  const durationS = num('duration', 600, 10, 86_400, 'SOAK_DURATION_S');
  const o: Options = {
    connections,
    durationS,
    intervalS: num('interval', 10, 1, 3600),
    rate: num('rate', 100, 0, 100_000),
    churn: num('churn', connections / 200, 0, 100_000),
    group: Math.round(num('group', 10, 2, 256)),
    warmupS: num('warmup', Math.round(durationS * 0.2), 0, durationS),
    tolerance: num('tolerance', 0.2, 0, 10),
    database: values.get('database') ?? null,
    target: values.get('target') ?? null,
  };
  if (o.target !== null) {
    if (o.database !== null) throw new Error('--target and --database exclude each other');
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(o.target).hostname)) throw new Error('--target must be a node on 127.0.0.1');
    if (env.DATABASE_URL === undefined || env.JWT_SECRET === undefined) throw new Error('--target needs DATABASE_URL (the node\'s database) and JWT_SECRET');
  }
  return o;
}

/** Undone in reverse order on success, failure and Ctrl-C. */
const cleanups: Array<() => Promise<void>> = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch((err: unknown) => process.stderr.write(`soak: cleanup failed: ${String(err)}\n`));
}

/** Seeds the users, starts the node unless one is targeted; returns its URLs and the seeded population. */
async function prepare(o: Options, secret: string) {
  const tag = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let dbEnv: Record<string, string>;
  if (o.target !== null) dbEnv = { DATABASE_URL: process.env.DATABASE_URL! };
  else if (o.database !== null) {
    const database = await createDatabase(o.database, 'massenger_soak');
    cleanups.push(() => database.drop());
    dbEnv = { DATABASE_URL: database.url };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'massenger-soak-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    dbEnv = { DATA_DIR: dir };
  }
  // The embedded database belongs to one process: seeded and closed before the node opens it.
  const db = openDb(loadConfig(dbEnv));
  const population = await seed(db, o.connections, o.group, tag).finally(() => db.close());
  if (o.target !== null) {
    const http = o.target.replace(/\/$/, '');
    return { population, http, ws: http.replace(/^http/, 'ws') + '/', node: null };
  }
  const node = await startNode({ ...dbEnv, JWT_SECRET: secret, MAX_CONNECTIONS: String(Math.max(50_000, 2 * o.connections)) });
  cleanups.push(() => node.stop());
  return { population, http: node.http, ws: node.ws, node };
}

function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

const MB = 1024 * 1024;
/** Signing everyone in may take this long before the soak gives up. */
const RAMP_TIMEOUT_MS = 300_000;
const HEADER = '     t    held  server  sent/s  acked/s  deliv/s  ack p99  sign-ins  churned  errors  closes   rss MB  heap MB    fds  lag p99';

function line(t: number, held: number, i: FleetInterval, s: ServerSample | null, seconds: number): string {
  const rate = (n: number) => (n / seconds).toFixed(0);
  const cells = [
    `${t.toFixed(0)}s`.padStart(6), String(held).padStart(7), String(s?.connections ?? '-').padStart(7),
    rate(i.sent).padStart(7), rate(i.acked).padStart(8), rate(i.delivered).padStart(8), `${i.ackP99Ms.toFixed(0)}ms`.padStart(8),
    String(i.signIns).padStart(9), String(i.churned).padStart(8), String(sum(i.errors)).padStart(7), String(sum(i.unexpectedCloses)).padStart(7),
    (s === null ? '-' : (s.rssBytes / MB).toFixed(1)).padStart(8), (s === null ? '-' : (s.heapUsedBytes / MB).toFixed(1)).padStart(8),
    String(s?.openFds ?? '-').padStart(6), (s === null ? '-' : `${s.eventLoopLagP99Ms.toFixed(0)}ms`).padStart(8),
  ];
  return cells.join(' ');
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2), process.env);
  // Each connection is a file in this process and in the node; plus a margin for everything else.
  ensureFileLimit(o.connections + 1024);
  const secret = o.target !== null ? process.env.JWT_SECRET! : `soak-${randomBytes(24).toString('hex')}`;
  const where = o.target ?? (o.database !== null ? 'a fresh PostgreSQL database' : 'the embedded database');
  process.stdout.write(`soak: ${o.connections} connections for ${o.durationS} s on ${where}; ${o.rate} messages/s, ${o.churn} connections replaced/s, groups of ${o.group}\n`);

  const { population, http, ws, node } = await prepare(o, secret);
  const expiry = Math.floor(Date.now() / 1000) + o.durationS + 3600;
  const sign = createSigner({ key: secret, algorithm: 'HS256' });
  const tokens = population.userIds.map((id) => sign({ sub: id, exp: expiry }));
  const fleet = new Fleet({ url: ws, tokens, conversationOf: population.conversationOf, maxPendingSignIns: 200 });
  cleanups.push(() => fleet.close());

  const rampStarted = Date.now();
  fleet.start();
  while (fleet.held < o.connections) {
    await new Promise((r) => setTimeout(r, o.intervalS * 1000));
    const i = fleet.takeInterval();
    const trouble = [`errors ${sum(i.errors)}`, `lost ${sum(i.unexpectedCloses)}`, `connect failures ${i.connectFailures}`].join(', ');
    process.stdout.write(`ramp: ${fleet.held} of ${o.connections} signed in after ${((Date.now() - rampStarted) / 1000).toFixed(0)} s (sign-in p99 ${i.signInP99Ms.toFixed(0)} ms; ${trouble})\n`);
    if (Date.now() - rampStarted > RAMP_TIMEOUT_MS) throw new Error(`only ${fleet.held} of ${o.connections} connections signed in after ${RAMP_TIMEOUT_MS / 1000} s`);
  }
  process.stdout.write(`\n${HEADER}\n`);

  const samples: Array<Timed<ServerSample>> = [];
  const totals = { sent: 0, acked: 0, delivered: 0, errors: {} as Record<string, number>, closes: {} as Record<string, number>, signIns: 0, connectFailures: 0, minHeld: o.connections };
  /** Errors and lost connections in intervals that began after warm-up: those count against the verdict. */
  const afterWarmup = { errors: 0, closes: 0 };
  const started = Date.now();
  let messagesIssued = 0;
  let churnIssued = 0;
  let nextLine = started + o.intervalS * 1000;
  let lastLine = started;
  let nextSample = started;
  while (Date.now() - started < o.durationS * 1000) {
    await new Promise((r) => setTimeout(r, 100));
    const now = Date.now();
    // Paced by the clock, not by ticks, so a late tick sends what is due and the rates hold.
    const dueMessages = Math.floor((o.rate * (now - started)) / 1000) - messagesIssued;
    const dueChurn = Math.floor((o.churn * (now - started)) / 1000) - churnIssued;
    fleet.chat(dueMessages);
    fleet.churn(dueChurn);
    messagesIssued += dueMessages;
    churnIssued += dueChurn;
    totals.minHeld = Math.min(totals.minHeld, fleet.held);
    if (now >= nextSample) {
      nextSample += 1000;
      // Not awaited: a slow /metrics answer must not hold back the load.
      void scrape(http, process.env.METRICS_TOKEN).then((sample) => sample !== null && samples.push({ at: (now - started) / 1000, value: sample }));
    }
    if (now >= nextLine) {
      const i = fleet.takeInterval();
      totals.sent += i.sent;
      totals.acked += i.acked;
      totals.delivered += i.delivered;
      totals.signIns += i.signIns;
      totals.connectFailures += i.connectFailures;
      for (const [code, n] of Object.entries(i.errors)) totals.errors[code] = (totals.errors[code] ?? 0) + n;
      for (const [code, n] of Object.entries(i.unexpectedCloses)) totals.closes[code] = (totals.closes[code] ?? 0) + n;
      if ((lastLine - started) / 1000 >= o.warmupS) {
        afterWarmup.errors += sum(i.errors);
        afterWarmup.closes += sum(i.unexpectedCloses);
      }
      process.stdout.write(line((now - started) / 1000, fleet.held, i, samples.at(-1)?.value ?? null, (now - lastLine) / 1000) + '\n');
      lastLine = now;
      nextLine += o.intervalS * 1000;
    }
  }
  const heldAtEnd = fleet.held;
  const serverUp = (await status(`${http}/healthz`)) === 200 && (node === null || node.child.exitCode === null);
  // What the node logged while soaked, before the shutdown adds its own lines.
  const logTail = node === null ? null : [...node.tail()];
  await cleanUp();

  const verdict = judge({
    samples,
    warmupS: o.warmupS,
    durationS: o.durationS,
    tolerance: o.tolerance,
    connections: o.connections,
    heldAtEnd,
    serverUp,
    errors: afterWarmup.errors,
    unexpectedCloses: afterWarmup.closes,
  });
  const fmt = (r: Record<string, number>) => (Object.keys(r).length === 0 ? '0' : Object.entries(r).map(([k, v]) => `${k}=${v}`).join(' '));
  process.stdout.write(
    `\nclients: sent ${totals.sent}, acked ${totals.acked}, delivered ${totals.delivered}, sign-ins ${totals.signIns}, errors ${fmt(totals.errors)} (${afterWarmup.errors} after warm-up), ` +
      `unexpected closes ${fmt(totals.closes)}, connect failures ${totals.connectFailures}; held ${heldAtEnd} of ${o.connections} at the end (lowest ${totals.minHeld})\n` +
      `server: ${verdict.summary}\n` +
      (logTail === null ? '' : `node log (warnings and errors): ${logTail.length === 0 ? 'none' : '\n  ' + logTail.join('\n  ')}\n`) +
      `verdict: ${verdict.flat ? 'FLAT (pass)' : `NOT FLAT (fail): ${verdict.failures.join('; ')}`}\n`,
  );
  return verdict.flat ? 0 : 1;
}

// Output closed under it (`| head`): clean up too, or the database and node would outlive the run.
process.stdout.on('error', () => void cleanUp().finally(() => process.exit(1)));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nsoak: ${signal}, cleaning up\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    await cleanUp();
    process.exit(2);
  },
);
