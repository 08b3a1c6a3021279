/**
 * Db over PGlite, the embedded PostgreSQL used when DATABASE_URL is unset (spec §4). PGlite runs
 * in a worker thread of its own (pglite-thread.ts), so its CPU never blocks the sockets; this side
 * only passes requests and replies. PGlite is one connection: its transaction() holds a lock that
 * plain queries also wait for, so transactions never interleave.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ThreadData, ThreadReply, ThreadRequest } from './pglite-thread.js';
import type { Db, NotificationListener, Statement } from './store.js';

export interface PgliteDbOptions {
  /** The database lives in `${dataDir}/db`, created if missing. Unset: in memory, gone on close. */
  dataDir?: string;
  /**
   * The `dataDir` of a closed PgliteDb: a new database starts as a copy of its database instead of
   * being created (initdb takes seconds; tests start many nodes from one migrated copy). Needs
   * `dataDir`.
   */
  template?: string;
}

/** Distributive, so each request keeps its own fields without its id. */
type Request = ThreadRequest extends infer R ? (R extends ThreadRequest ? Omit<R, 'id'> : never) : never;

/**
 * The thread's young generation, in MB (V8's default lets it reach 32 MB). What the thread
 * allocates (each request's copy, each result's rows) dies within the request, so a small one is
 * collected often and cheaply. With the default it filled to 32 MB in a storm of 10,000 sign-ins
 * and kept that memory; with 6 MB the server held about 1.6 KB less per idle connection, at the
 * same CPU and latency at 5,000 msg/s (README, Performance).
 */
const THREAD_YOUNG_GENERATION_MB = 6;

/**
 * The compiled thread script. Under the test runner this module is TypeScript in src/, which a
 * worker cannot load: the build's copy in dist/ is used then (npm test builds first).
 */
function threadScript(): URL {
  const here = new URL('./pglite-thread.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const built = join(fileURLToPath(new URL('../../', import.meta.url)), 'dist/src/store/pglite-thread.js');
  if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
  return new URL(`file://${built}`);
}

export class PgliteDb implements Db {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();
  readonly #listeners = new Map<string, NotificationListener>();
  #nextId = 0;
  #closed = false;
  /** Set when the thread died: every request fails with it. */
  #dead: Error | null = null;

  constructor(options: PgliteDbOptions = {}) {
    if (options.template !== undefined && options.dataDir === undefined) throw new Error('a PGlite template is copied into a dataDir: set one');
    const data: ThreadData = {
      dataDir: options.dataDir === undefined ? null : join(options.dataDir, 'db'),
      template: options.template === undefined ? null : join(options.template, 'db'),
    };
    this.#worker = new Worker(threadScript(), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } });
    this.#worker.on('message', (reply: ThreadReply) => this.#receive(reply));
    this.#worker.on('error', (err) => this.#die(err));
    this.#worker.on('exit', (code) => this.#die(new Error(`PGlite is closed (its thread exited with code ${code})`)));
  }

  async query<Row>(text: string, values?: unknown[]): Promise<{ rows: Row[] }> {
    return { rows: (await this.#call({ op: 'query', text, values, tx: null })) as Row[] };
  }

  /** PGlite is one connection: each statement runs once. */
  async warmUp(statements: readonly Statement[]): Promise<void> {
    for (const s of statements) await this.query(s.text, s.values);
  }

  async transaction<T>(fn: (tx: Pick<Db, 'query'>) => Promise<T>): Promise<T> {
    const tx = (await this.#call({ op: 'begin' })) as number;
    let result: T;
    try {
      result = await fn({ query: async <Row>(text: string, values?: unknown[]) => ({ rows: (await this.#call({ op: 'query', text, values, tx })) as Row[] }) });
    } catch (err) {
      await this.#call({ op: 'end', tx, commit: false }).catch(() => undefined);
      throw err;
    }
    await this.#call({ op: 'end', tx, commit: true });
    return result;
  }

  /** One process, one connection: no notification can be missed, so onGap is never called. */
  async listen(channel: string, listener: NotificationListener): Promise<() => Promise<void>> {
    this.#listeners.set(channel, listener);
    await this.#call({ op: 'listen', channel });
    return async () => {
      this.#listeners.delete(channel);
      if (!this.#closed) await this.#call({ op: 'unlisten', channel }).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Requests already sent are answered before the close: the thread handles them in order.
    await this.#call({ op: 'close' }).catch(() => undefined);
    this.#closed = true;
    await this.#worker.terminate();
  }

  #call(request: Request): Promise<unknown> {
    if (this.#closed || this.#dead !== null) return Promise.reject(this.#dead ?? new Error('PGlite is closed'));
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id } as ThreadRequest);
    });
  }

  #receive(reply: ThreadReply): void {
    if (reply.id === null) {
      this.#listeners.get(reply.notify)?.onNotify(reply.payload);
      return;
    }
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    if (reply.ok) waiting.resolve(reply.result);
    // The database's error, with its SQLSTATE code, for translate() (db-errors.ts).
    else waiting.reject(Object.assign(new Error(reply.error.message), reply.error));
  }

  #die(err: Error): void {
    this.#dead ??= this.#closed ? new Error('PGlite is closed') : err;
    for (const waiting of this.#waiting.values()) waiting.reject(new Error(`PGlite is closed: ${err.message}`));
    this.#waiting.clear();
  }
}
