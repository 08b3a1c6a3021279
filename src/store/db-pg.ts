/**
 * Db over a node-postgres pool. pg's defaults already give what the store expects: int8 as
 * decimal strings (ids never lose precision) and timestamptz as Date.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { PgListener } from './pg-listener.js';
import type { Db, NotificationListener, Statement } from './store.js';

export interface PgDbOptions {
  connectionString: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /** How long to wait for a connection, new or from a full pool, before failing. Default 5000. */
  connectionTimeoutMs?: number;
  /** Server-side limit per statement. Default 10000. */
  statementTimeoutMs?: number;
  /** An idle connection that failed (server restart, network); the pool has already dropped it. */
  onError?: (err: Error) => void;
}

/**
 * TCP keepalive starts after this much idle time, so a connection silently dropped by the network
 * is noticed in seconds, not the OS default of two hours (the LISTEN connection is idle by nature).
 */
const KEEPALIVE_DELAY_MS = 10_000;

/** The `application_name` of the node's connections. */
export const APPLICATION_NAME = 'massenger';

/**
 * Every statement with parameters runs as a named prepared statement, named after its text: each
 * pooled connection parses and plans it once and then only binds and executes (the hot statements,
 * storing a batch and the INIT reads, repeat thousands of times a second). The statements are a
 * fixed set of texts in the code, so each connection prepares a bounded number.
 */
const statementNames = new Map<string, string>();
const MAX_PREPARED = 500;
function prepared(text: string, values: unknown[] | undefined): pg.QueryConfig {
  if (values === undefined || values.length === 0) return { text };
  let name = statementNames.get(text);
  if (name === undefined) {
    // A safety bound: were a caller ever to build texts on the fly, they would run unprepared.
    if (statementNames.size >= MAX_PREPARED) return { text, values };
    name = `m${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}

export class PgDb implements Db {
  #pool: pg.Pool;
  readonly #options: PgDbOptions;
  readonly #listeners = new Set<PgListener>();

  constructor(options: PgDbOptions) {
    this.#options = options;
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
      statement_timeout: options.statementTimeoutMs ?? 10000,
      // Client-side too: a partitioned network never answers, and the server's timeout cannot fire.
      query_timeout: (options.statementTimeoutMs ?? 10000) + 2000,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      // Idle connections stay open (pg closes them after 10 s by default): a connection opened
      // again in the next burst would plan the append function again, on a message's time.
      idleTimeoutMillis: 0,
      // So that an operator finds the node's connections in pg_stat_activity.
      application_name: APPLICATION_NAME,
    });
    // Without a listener, an idle client's connection error would crash the process.
    this.#pool.on('error', (err) => options.onError?.(err));
  }

  async query<Row>(text: string, values?: unknown[]): Promise<{ rows: Row[] }> {
    const result = await this.#pool.query(prepared(text, values));
    return { rows: result.rows as Row[] };
  }

  async transaction<T>(fn: (tx: Pick<Db, 'query'>) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    // A checked-out client has no pool listener: a connection lost between two statements would
    // otherwise be an unhandled 'error' event. The next query fails with it anyway.
    let lost: Error | undefined;
    const onError = (err: Error) => (lost = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn({
        query: async <Row>(text: string, values?: unknown[]) => ({ rows: (await client.query(prepared(text, values))).rows as Row[] }),
      });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (lost ??= rollbackErr));
      throw err;
    } finally {
      client.removeListener('error', onError);
      // Passing an error destroys the connection instead of returning a broken one to the pool.
      client.release(lost);
    }
  }

  /** Checks out every connection of the pool at once, so each is opened and warmed, then returns them. */
  async warmUp(statements: readonly Statement[]): Promise<void> {
    const opened = await Promise.allSettled(Array.from({ length: this.#pool.options.max ?? 10 }, () => this.#pool.connect()));
    const clients = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const warmed = await Promise.allSettled(
      clients.map(async (client) => {
        for (const s of statements) await client.query(prepared(s.text, s.values));
      }),
    );
    // A connection whose statement failed is dropped rather than kept in an unknown state.
    clients.forEach((client, i) => client.release(warmed[i]?.status === 'rejected' ? true : undefined));
    const failed = [...opened, ...warmed].find((o) => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  async listen(channel: string, listener: NotificationListener): Promise<() => Promise<void>> {
    const pgListener = new PgListener({
      config: {
        connectionString: this.#options.connectionString,
        connectionTimeoutMillis: this.#options.connectionTimeoutMs ?? 5000,
        keepAlive: true,
        keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
        application_name: APPLICATION_NAME,
      },
      channel,
      listener,
      onError: (err) => this.#options.onError?.(err),
    });
    await pgListener.start();
    this.#listeners.add(pgListener);
    return async () => {
      this.#listeners.delete(pgListener);
      await pgListener.stop();
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.stop()));
    this.#listeners.clear();
    await this.#pool.end();
  }
}
