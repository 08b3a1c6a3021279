/**
 * Runs the built program as users do: `node dist/src/main.js` and the scripts in dist/scripts,
 * each with its own environment (never the test runner's), and keeps track of every child so a
 * suite's afterEach can kill what is left.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/src/main.js');
const SCRIPTS = join(ROOT, 'dist/scripts');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ when it is missing or older than the sources (`npm test` builds first, so this is
 * for running a suite alone). A lock directory keeps two test files from building at once.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = join(ROOT, 'dist', '.test-build-lock');
  const stale = () =>
    !existsSync(MAIN) ||
    !existsSync(join(SCRIPTS, 'token.js')) ||
    !existsSync(join(SCRIPTS, 'demo-data.js')) ||
    Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'scripts'))) > statSync(MAIN).mtimeMs;
  const deadline = Date.now() + 120_000;
  while (stale()) {
    mkdirSync(join(ROOT, 'dist'), { recursive: true });
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for too long`);
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      // tsc emits even with type errors elsewhere in the tree; only missing output is fatal here.
      try {
        execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'ignore', timeout: 120_000 });
      } catch {
        /* reported as type errors by `npx tsc --noEmit`; the check below decides */
      }
      if (!existsSync(MAIN)) throw new Error('tsc did not produce dist/src/main.js');
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolvePort(port));
    });
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
  const deadline = Date.now() + timeoutMs;
  let exitedWith: number | string | null = null;
  void server.exited.then((code) => (exitedWith = code));
  while (Date.now() < deadline) {
    if (exitedWith !== null) throw new Error(`server exited with ${exitedWith}: ${server.stderr()}${server.stdout()}`);
    try {
      const res = await fetch(`${server.http}${path}`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not serving ${path} within ${timeoutMs} ms: ${server.stderr()}${server.stdout()}`);
}

/** Sends SIGTERM and resolves with the exit code and how long the exit took. */
export async function stop(server: Server, timeoutMs = 10_000): Promise<{ code: number | string; ms: number }> {
  const started = Date.now();
  server.child.kill('SIGTERM');
  const code = await Promise.race([
    server.exited,
    new Promise<string>((r) => setTimeout(() => r('timeout'), timeoutMs)),
  ]);
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
