/**
 * The worker thread that runs the embedded database (PGlite) for PgliteDb (db-pglite.ts). PGlite
 * is PostgreSQL compiled to WebAssembly and runs on the thread that calls it: on the server's own
 * thread every query would stop every socket until it finished. Here it has a thread (a core) of
 * its own, and the server's event loop stays free for connections.
 *
 * The protocol is one request, one reply, matched by `id`; NOTIFY payloads come unasked.
 * Transactions: `begin` opens one (PGlite's transaction() holds its own lock, so other queries
 * wait, as on one connection), queries name it by `tx`, `end` commits or rolls it back.
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, types, type Transaction } from '@electric-sql/pglite';

export type ThreadRequest =
  | { id: number; op: 'query'; text: string; values: unknown[] | undefined; tx: number | null }
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'listen'; channel: string }
  | { id: number; op: 'unlisten'; channel: string }
  | { id: number; op: 'close' };

export type ThreadReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; code?: string; name?: string } }
  | { id: null; notify: string; payload: string };

export interface ThreadData {
  /** The database directory, created if missing; null: in memory. */
  dataDir: string | null;
  /** A closed database directory to copy when dataDir holds none yet; null: a new one. */
  template: string | null;
}

/** Parse like node-postgres so SqlStore sees the same values on both: ids as strings, times as Date. */
const parsers = {
  [types.INT8]: (x: string) => x,
  [types.TIMESTAMPTZ]: (x: string) => new Date(x),
};

const port = parentPort;
if (port === null) throw new Error('pglite-thread.js runs as a worker thread');
const { dataDir, template } = workerData as ThreadData;
if (dataDir !== null) {
  mkdirSync(dataDir, { recursive: true });
  // A directory holds a database once initdb wrote PG_VERSION; a template is for one that does not.
  if (template !== null && !existsSync(join(dataDir, 'PG_VERSION'))) cpSync(template, dataDir, { recursive: true });
}
const pg = new PGlite({ dataDir: dataDir ?? undefined, parsers });

/** An open transaction: the handle to query through, how to end it, and how it ended. */
interface OpenTransaction {
  tx: Transaction;
  end: (commit: boolean) => void;
  finished: Promise<void>;
}
const open = new Map<number, OpenTransaction>();
/** What a rollback asked for by the caller rejects with, to tell it from a failed commit. */
const ROLLBACK = new Error('rolled back');
const unlisteners = new Map<string, () => Promise<void>>();
let nextTx = 0;

function reply(message: ThreadReply): void {
  port?.postMessage(message);
}

function failure(id: number, err: unknown): ThreadReply {
  const e = err as { message?: unknown; code?: unknown; name?: unknown };
  const error: { message: string; code?: string; name?: string } = { message: String(e?.message ?? err) };
  if (typeof e?.code === 'string') error.code = e.code;
  if (typeof e?.name === 'string') error.name = e.name;
  return { id, ok: false, error };
}

async function handle(req: ThreadRequest): Promise<unknown> {
  switch (req.op) {
    case 'query': {
      const target = req.tx === null ? pg : open.get(req.tx)?.tx;
      if (target === undefined) throw new Error('transaction is not open');
      return (await target.query(req.text, req.values)).rows;
    }
    case 'begin': {
      const txId = ++nextTx;
      let started!: () => void;
      const ready = new Promise<void>((resolve) => (started = resolve));
      const entry = {} as OpenTransaction;
      entry.finished = pg.transaction(
        (tx) =>
          new Promise<void>((resolve, reject) => {
            entry.tx = tx;
            entry.end = (commit) => (commit ? resolve() : reject(ROLLBACK));
            started();
          }),
      );
      // Claimed now; `end` reports how it finished. A BEGIN that fails rejects before `ready`.
      entry.finished.catch(() => undefined);
      await Promise.race([ready, entry.finished]);
      open.set(txId, entry);
      return txId;
    }
    case 'end': {
      const entry = open.get(req.tx);
      if (entry === undefined) throw new Error('transaction is not open');
      open.delete(req.tx);
      entry.end(req.commit);
      // Resolves once PGlite finished COMMIT (or ROLLBACK) and released its lock.
      try {
        await entry.finished;
      } catch (err) {
        if (err !== ROLLBACK) throw err;
      }
      return null;
    }
    case 'listen': {
      const unlisten = await pg.listen(req.channel, (payload) => reply({ id: null, notify: req.channel, payload }));
      unlisteners.set(req.channel, unlisten);
      return null;
    }
    case 'unlisten':
      await unlisteners.get(req.channel)?.();
      unlisteners.delete(req.channel);
      return null;
    case 'close':
      if (!pg.closed) await pg.close();
      return null;
  }
}

port.on('message', (req: ThreadRequest) => {
  handle(req).then(
    (result) => reply({ id: req.id, ok: true, result }),
    (err: unknown) => reply(failure(req.id, err)),
  );
});
