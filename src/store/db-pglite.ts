/**
 * Db over PGlite, the embedded PostgreSQL used when DATABASE_URL is unset (spec §4).
 * PGlite is one connection: its transaction() holds a mutex that plain queries also wait for,
 * so transactions never interleave.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import type { Db, NotificationListener } from './store.js';

export interface PgliteDbOptions {
  /** The database lives in `${dataDir}/db`, created if missing. Unset: in memory, gone on close. */
  dataDir?: string;
}

/** Parse like node-postgres so SqlStore sees the same values on both: ids as strings, times as Date. */
const parsers = {
  [types.INT8]: (x: string) => x,
  [types.TIMESTAMPTZ]: (x: string) => new Date(x),
};

export class PgliteDb implements Db {
  #pg: PGlite;

  constructor(options: PgliteDbOptions = {}) {
    let dataDir: string | undefined;
    if (options.dataDir !== undefined) {
      dataDir = join(options.dataDir, 'db');
      mkdirSync(dataDir, { recursive: true });
    }
    this.#pg = new PGlite({ dataDir, parsers });
  }

  async query<Row>(text: string, values?: unknown[]): Promise<{ rows: Row[] }> {
    const result = await this.#pg.query<Row>(text, values);
    return { rows: result.rows };
  }

  transaction<T>(fn: (tx: Pick<Db, 'query'>) => Promise<T>): Promise<T> {
    return this.#pg.transaction((tx) =>
      fn({ query: async <Row>(text: string, values?: unknown[]) => ({ rows: (await tx.query<Row>(text, values)).rows }) }),
    );
  }

  /** One process, one connection: no notification can be missed, so onGap is never called. */
  async listen(channel: string, listener: NotificationListener): Promise<() => Promise<void>> {
    const unlisten = await this.#pg.listen(channel, (payload) => listener.onNotify(payload));
    return async () => {
      if (!this.#pg.closed) await unlisten();
    };
  }

  async close(): Promise<void> {
    if (!this.#pg.closed) await this.#pg.close();
  }
}
