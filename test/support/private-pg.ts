/**
 * A PostgreSQL server a suite owns, so it can be stopped, crashed and started again without
 * touching the shared one on 5432: initdb into a temp dir, one free port, 127.0.0.1 only, the
 * server's default durability (fsync and synchronous_commit on). PostgreSQL refuses to run as
 * root, so under root every binary runs as the `postgres` OS user (runuser) in a dir it owns.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../scripts/support/ports.js';
import { CI } from './services.js';

const run = promisify(execFile);
const ROOT_UID = 0;

/** The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl, or null. */
function binDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => /^[0-9.]+$/.test(v) && existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(base, versions[0], 'bin');
}

/** uid and gid of the `postgres` OS user, or null when there is none. */
function postgresUser(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return null;
  }
}

/** Why a private server cannot run here, or null when it can. */
function missing(): string | null {
  if (binDir() === null) return 'no PostgreSQL binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin';
  if (process.getuid?.() === ROOT_UID && postgresUser() === null) return 'running as root and there is no postgres OS user to run PostgreSQL as';
  return null;
}

/**
 * Whether a suite needing a private server runs. Use at module top level:
 * `describe.runIf(privatePostgresAvailable())(...)`. With CI=true a missing piece is an error.
 */
export function privatePostgresAvailable(): boolean {
  const why = missing();
  if (why === null) return true;
  if (CI) throw new Error(`CI=true but a private PostgreSQL cannot run: ${why}`);
  console.warn(`\n*** ${why}: skipping the suites that start their own PostgreSQL (set CI=true to make this an error) ***\n`);
  return false;
}

/** Servers not yet destroyed: stopped at exit whatever happened, so none outlives the test run. */
const running = new Set<PrivatePostgres>();
process.once('exit', () => {
  for (const server of running) server.destroy();
});

export class PrivatePostgres {
  readonly port: number;
  readonly #dir: string;
  readonly #bin: string;

  private constructor(dir: string, bin: string, port: number) {
    this.#dir = dir;
    this.#bin = bin;
    this.port = port;
  }

  /** initdb on a free port and start the server; resolves once it accepts connections. */
  static async start(): Promise<PrivatePostgres> {
    const why = missing();
    if (why !== null) throw new Error(why);
    const dir = mkdtempSync(join(tmpdir(), 'massenger-pg-'));
    const user = process.getuid?.() === ROOT_UID ? postgresUser() : null;
    if (user !== null) chownSync(dir, user.uid, user.gid);
    const server = new PrivatePostgres(dir, binDir()!, await freePort());
    running.add(server);
    try {
      await server.#exec('initdb', ['-D', server.#data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
      await server.startServer();
    } catch (err) {
      server.destroy();
      throw err;
    }
    return server;
  }

  get #data(): string {
    return join(this.#dir, 'data');
  }

  /** A connection string for `database` on this server. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Starts the server (after initdb or a stop) and waits until it accepts connections. */
  async startServer(): Promise<void> {
    // The socket dir is the temp dir, so nothing is shared with the system server's /var/run/postgresql.
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.#dir}`;
    await this.#exec('pg_ctl', ['start', '-D', this.#data, '-l', join(this.#dir, 'server.log'), '-w', '-t', '60', '-o', options]);
  }

  /**
   * Stops the server: `fast` rolls back open transactions and closes connections cleanly;
   * `immediate` kills every process at once, a crash that the next start recovers from the WAL.
   */
  async stopServer(mode: 'fast' | 'immediate'): Promise<void> {
    await this.#exec('pg_ctl', ['stop', '-D', this.#data, '-m', mode, '-w', '-t', '60']);
  }

  /** The server's log so far, for a failing test's message. */
  log(): string {
    try {
      return readFileSync(join(this.#dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the server if it runs (immediate) and removes its directory. Synchronous, so it also runs at exit. */
  destroy(): void {
    if (!running.delete(this)) return;
    try {
      execFileSync(...this.#command('pg_ctl', ['stop', '-D', this.#data, '-m', 'immediate', '-w', '-t', '30']), { stdio: 'ignore' });
    } catch {
      /* not running */
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #exec(binary: string, args: string[]): Promise<void> {
    try {
      await run(...this.#command(binary, args), { timeout: 90_000 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${binary} ${args[0]} failed: ${e.stderr || e.stdout || e.message}\n${this.log().slice(-2000)}`, { cause: err });
    }
  }

  /** The binary, run as the postgres OS user when this process is root. */
  #command(binary: string, args: string[]): [string, string[]] {
    const path = join(this.#bin, binary);
    return process.getuid?.() === ROOT_UID ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  }
}
