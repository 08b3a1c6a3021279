/**
 * Whether the processes of a load run wait for a core: over a window of `--seconds`, each group of
 * processes' time on a CPU and its time runnable but waiting for one (the kernel's run-queue delay,
 * /proc/PID/task/TID/schedstat), summed over its threads. On a machine whose cores are all busy a
 * process waits, and so does every message that needs it next: a node waiting for a core reads a
 * commit's answer late, a database waiting for one commits late.
 *
 *   npm run cpu-waits -- [--seconds 8] [--after loadgen.mjs] [--delay 6]
 *
 * Processes are grouped by what they run: a Node.js script by its file name (`main.js` for a node),
 * PostgreSQL's backends and helpers as `postgres`, `redis-server`. `--after` waits until a process
 * of that group runs (giving up after 10 minutes), then `--delay` seconds more (a load
 * generator's connecting and warm-up), before the window opens. Linux only.
 *
 * Unlike the other scripts it does not build first: it runs beside a load run, and a build would
 * load the machine it measures. Run `npm run build` once before.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run cpu-waits -- [--seconds 8] [--after GROUP] [--delay 0]';
/** How long `--after` waits for its process before giving up. */
const AFTER_WAIT_MAX_S = 600;

interface Times {
  /** Nanoseconds on a CPU. */
  run: number;
  /** Nanoseconds runnable and waiting for a CPU. */
  wait: number;
}

function options(): { seconds: number; after: string | undefined; delay: number } {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '8' }, after: { type: 'string' }, delay: { type: 'string', default: '0' } },
  });
  const number = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`cpu-waits: --${name} must be a number of at least ${min}\n${USAGE}\n`);
      process.exit(2);
    }
    return n;
  };
  return { seconds: number('seconds', values.seconds, 0.1), after: values.after, delay: number('delay', values.delay, 0) };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process or thread ended meanwhile
  }
}

function commandLine(pid: string): string[] | null {
  return read(`/proc/${pid}/cmdline`)?.split('\0').filter((part) => part !== '') ?? null;
}

/** What a process runs, as a group's name; null for what the run is not about. */
function groupOf(cmd: string[]): string | null {
  // A PostgreSQL backend's command line is its title, e.g. `postgres: 15/main: postgres test … idle`.
  if (cmd[0]?.startsWith('postgres:') === true) return 'postgres';
  const program = basename(cmd[0] ?? '');
  if (program === 'postgres') return 'postgres';
  if (program === 'redis-server') return 'redis-server';
  if (program === 'node') {
    // The script, not an option's value (`--cpu-prof-dir DIR`).
    const script = cmd.slice(1).find((arg) => !arg.startsWith('-') && /\.[cm]?[jt]s$/.test(arg));
    return script === undefined ? null : basename(script);
  }
  return null;
}

function pids(): string[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name));
}

function groupOfPid(pid: string): string | null {
  const cmd = commandLine(pid);
  return cmd === null ? null : groupOf(cmd);
}

/** Every thread's times and group, keyed by process and thread. */
function sample(): Map<string, Times & { group: string }> {
  const threads = new Map<string, Times & { group: string }>();
  for (const pid of pids()) {
    if (pid === String(process.pid)) continue;
    const group = groupOfPid(pid);
    if (group === null) continue;
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const [run, wait] = (read(`/proc/${pid}/task/${tid}/schedstat`) ?? '').split(' ').map(Number);
      if (run !== undefined && wait !== undefined && Number.isFinite(wait)) threads.set(`${pid}/${tid}`, { group, run, wait });
    }
  }
  return threads;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  if (process.platform !== 'linux') {
    process.stderr.write('cpu-waits: reads /proc/*/schedstat, which only Linux has\n');
    process.exit(2);
  }
  const o = options();
  if (o.after !== undefined) {
    const group = o.after;
    const giveUpAt = performance.now() + AFTER_WAIT_MAX_S * 1000;
    // Every quarter of a second: reading every command line costs a few ms of CPU, here counted as
    // the load run's "other" CPU.
    while (!pids().some((pid) => groupOfPid(pid) === group)) {
      if (performance.now() > giveUpAt) {
        process.stderr.write(`cpu-waits: no process of group ${group} started within ${AFTER_WAIT_MAX_S} s\n`);
        process.exit(1);
      }
      await sleep(250);
    }
  }
  await sleep(o.delay * 1000);
  const before = sample();
  const started = performance.now();
  await sleep(o.seconds * 1000);
  const after = sample();
  const seconds = (performance.now() - started) / 1000;
  const groups = new Map<string, Times>();
  for (const [key, now] of after) {
    // A thread that started within the window counts from zero; one that ended within it is not
    // counted (PostgreSQL's backends and a node's threads live as long as the run).
    const then = before.get(key) ?? { run: 0, wait: 0 };
    const sum = groups.get(now.group) ?? { run: 0, wait: 0 };
    sum.run += now.run - then.run;
    sum.wait += now.wait - then.wait;
    groups.set(now.group, sum);
  }
  for (const [group, t] of [...groups].sort((a, b) => b[1].run - a[1].run)) {
    const cpu = (100 * t.run) / 1e9 / seconds;
    const waitMs = t.wait / 1e6 / seconds;
    console.log(`${group.padEnd(24)} on a CPU ${cpu.toFixed(1).padStart(6)}%   waiting for one ${waitMs.toFixed(0).padStart(5)} ms/s`);
  }
  const afterOption = o.after === undefined ? '' : ` --after ${o.after}`;
  console.log(`reproduce: npm run cpu-waits -- --seconds ${o.seconds}${afterOption} --delay ${o.delay}`);
}

await main();
