/**
 * Runs the built program as users do: `node dist/src/main.js` and the scripts in dist/scripts,
 * each with its own environment (never the test runner's), and keeps track of every child so a
 * suite's afterEach can kill what is left.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../scripts/support/ports.js';
import { waitUntil } from '../../scripts/support/wait.js';

export const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/src/main.js');
const SCRIPTS = join(ROOT, 'dist/scripts');

/** The newest modification time under `path` (a file, or a directory and everything in it), in ms. */
export function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * Runs `build` once if `stale()`, one test file at a time: a lock directory in dist/ keeps two
 * files from building at once, and a file that waited for it finds the output built.
 */
export async function buildOnce(lockName: string, stale: () => boolean, build: () => void): Promise<void> {
  const lock = join(ROOT, 'dist', lockName);
  const deadline = Date.now() + 120_000;
  while (stale()) {
    mkdirSync(join(ROOT, 'dist'), { recursive: true });
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for too long`);
      await sleep(250);
      continue;
    }
    try {
      build();
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/**
 * Builds dist/ when it is missing or older than the sources (`npm test` builds first, so this is
 * for running a suite alone).
 */
export async function ensureBuilt(): Promise<void> {
  const stale = () =>
    !existsSync(MAIN) ||
    !existsSync(join(SCRIPTS, 'token.js')) ||
    !existsSync(join(SCRIPTS, 'demo-data.js')) ||
    Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'scripts'))) > statSync(MAIN).mtimeMs;
  await buildOnce('.test-build-lock', stale, () => {
    // tsc emits even with type errors elsewhere in the tree; only missing output is fatal here.
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'ignore', timeout: 120_000 });
    } catch {
      /* reported as type errors by `npx tsc --noEmit`; the check below decides */
    }
    if (!existsSync(MAIN)) throw new Error('tsc did not produce dist/src/main.js');
  });
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'massenger-process-'));
}

/** Only what a child needs from this environment; the rest comes from `env`. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const v = process.env[name];
    if (v !== undefined) base[name] = v;
  }
  return { ...base, ...env };
}

const children = new Set<ChildProcess>();

export interface Server {
  child: ChildProcess;
  port: number;
  http: string;
  ws: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/** Starts `node dist/src/main.js` on 127.0.0.1 with `env` (PORT is chosen unless given). */
export async function startServer(env: Record<string, string>): Promise<Server> {
  const port = env.PORT === undefined ? await freePort() : Number(env.PORT);
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: childEnv({ HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '3000', ...env, PORT: env.PORT ?? String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | string>((resolveExit) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolveExit(code ?? signal ?? 'unknown');
    }),
  );
  return { child, port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/`, stdout: () => out, stderr: () => err, exited };
}

/** Waits until GET path answers 200, or the process exits, or the deadline passes. */
export async function waitUntilServing(server: Server, path = '/healthz', timeoutMs = 20_000): Promise<void> {
  let exitedWith: number | string | null = null;
  void server.exited.then((code) => (exitedWith = code));
  const serving = async () => {
    if (exitedWith !== null) throw new Error(`server exited with ${exitedWith}: ${server.stderr()}${server.stdout()}`);
    try {
      const res = await fetch(`${server.http}${path}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false; // not listening yet
    }
  };
  await waitUntil(serving, () => `the server to serve ${path}: ${server.stderr()}${server.stdout()}`, timeoutMs, 100);
}

/** Sends SIGTERM and resolves with the exit code and how long the exit took. */
export async function stop(server: Server, timeoutMs = 10_000): Promise<{ code: number | string; ms: number }> {
  const started = Date.now();
  server.child.kill('SIGTERM');
  const code = await Promise.race([server.exited, sleep(timeoutMs, 'timeout')]);
  return { code, ms: Date.now() - started };
}

/** Runs a built script (`token`, `demo-data`) to completion. */
export function runScript(name: string, args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode([join(SCRIPTS, `${name}.js`), ...args], env, timeoutMs);
}

/** Runs `node dist/src/main.js` expecting it to exit by itself (configuration errors). */
export function runMain(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode([MAIN], { HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, timeoutMs);
}

function runNode(args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not exit within ${timeoutMs} ms: ${stderr}${stdout}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** Kills every child still running (afterEach/afterAll), waiting until each has exited. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((r) => {
          if (child.exitCode !== null || child.signalCode !== null) return r();
          child.once('exit', () => r());
          child.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
}
