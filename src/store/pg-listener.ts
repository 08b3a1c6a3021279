/**
 * LISTEN on a dedicated PostgreSQL connection (a pooled one would drop its LISTEN when released).
 * When the connection is lost it reconnects with a growing delay and calls `onGap` once it listens
 * again, since notifications sent meanwhile are gone.
 */
import pg from 'pg';
import type { NotificationListener } from './store.js';

/** Reconnect delays grow from the first to the last, in ms. */
const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 5000;

export class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listener: NotificationListener;
  readonly #onError: (err: Error) => void;
  #client: pg.Client | null = null;
  #retryMs = FIRST_RETRY_MS;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(opts: { config: pg.ClientConfig; channel: string; listener: NotificationListener; onError: (err: Error) => void }) {
    this.#config = opts.config;
    this.#channel = opts.channel;
    this.#listener = opts.listener;
    this.#onError = opts.onError;
  }

  /** Listens; rejects when the first connection fails (start-up should see that). */
  start(): Promise<void> {
    return this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#config);
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, new Error('listening connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel === this.#channel) this.#listener.onNotify(msg.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.#channel)}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#retryMs = FIRST_RETRY_MS;
  }

  #lost(client: pg.Client, err: Error): void {
    if (this.#client !== client) return;
    this.#client = null;
    void client.end().catch(() => {});
    if (this.#stopped) return;
    this.#onError(err);
    this.#retry();
  }

  #retry(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect().then(
        () => {
          if (!this.#stopped) this.#listener.onGap();
        },
        (err: unknown) => {
          if (this.#stopped) return;
          this.#onError(err as Error);
          this.#retryMs = Math.min(this.#retryMs * 2, LAST_RETRY_MS);
          this.#retry();
        },
      );
    }, this.#retryMs);
    this.#timer.unref();
  }
}
