/**
 * A database outage (spec §2.4 UNAVAILABLE: a dependency is down; nothing was stored). PostgreSQL
 * only, each node on a database of its own, made unreachable in two ways: the server refuses new
 * connections to that database (ALLOW_CONNECTIONS false, existing ones terminated), or the
 * network path is cut (a TCP proxy in front of the server closes). In both, requests that need
 * the database answer ERROR UNAVAILABLE, the connection stays open, the node keeps serving
 * what needs no database, /readyz says 503, and all of it works again once the database is back.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresOnly } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { startNode, type TestNode } from '../support/node.js';
import { freshDatabase } from '../support/pg.js';
import { PG_BASE_URL } from '../support/services.js';
import { Clients, expectAlive, freshUsers, received, waitFor } from './helpers.js';

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
class TcpProxy {
  readonly port: number;
  #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #target: { host: string; port: number };

  private constructor(server: net.Server, port: number, target: { host: string; port: number }) {
    this.#server = server;
    this.port = port;
    this.#target = target;
  }

  static async start(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, target);
    server.on('connection', (client: net.Socket) => proxy.#pipe(client));
    return proxy;
  }

  #pipe(client: net.Socket): void {
    const upstream = net.connect(this.#target);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.#sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  async restore(): Promise<void> {
    const next = await TcpProxy.start(this.#target, this.port);
    this.#server = next.#server;
    next.#server.removeAllListeners('connection');
    next.#server.on('connection', (client: net.Socket) => this.#pipe(client));
  }
}

async function status(url: string): Promise<number> {
  return (await fetch(url)).status;
}

const outages = [
  { name: 'the server refuses connections to the database', via: 'allow-connections' as const },
  { name: 'the network path to the server is cut', via: 'proxy' as const },
];

for (const backend of await postgresOnly()) {
  for (const outage of outages) {
    describe(`gateway database outage: ${outage.name} (${backend.name})`, () => {
      let t: TestNode;
      let databaseUrl: string;
      let databaseName: string;
      let proxy: TcpProxy | null = null;
      let dropDatabase: () => Promise<void> = async () => {};
      const clients = new Clients(() => t);
      const admin = new pg.Client({ connectionString: PG_BASE_URL });

      beforeAll(async () => {
        await admin.connect();
        if (outage.via === 'allow-connections') {
          const started = await backend.start();
          t = started;
          databaseName = started.databaseName!;
          const url = new URL(PG_BASE_URL);
          url.pathname = `/${databaseName}`;
          databaseUrl = url.toString();
        } else {
          const database = await freshDatabase();
          dropDatabase = database.drop;
          databaseUrl = database.url;
          databaseName = database.name;
          const target = new URL(PG_BASE_URL);
          proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
          const viaProxy = new URL(database.url);
          viaProxy.hostname = '127.0.0.1';
          viaProxy.port = String(proxy.port);
          t = await startNode({ DATABASE_URL: viaProxy.toString() });
        }
      });
      afterEach(() => clients.closeAll());
      afterAll(async () => {
        await clients.closeAll();
        await restore().catch(() => undefined);
        await t?.close();
        await proxy?.cut().catch(() => undefined);
        await dropDatabase();
        await admin.end();
      });

      async function breakDatabase(): Promise<void> {
        if (proxy !== null) return proxy.cut();
        await admin.query(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS false`);
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [databaseName]);
      }

      let broken = false;
      async function restore(): Promise<void> {
        if (!broken) return;
        broken = false;
        if (proxy !== null) return proxy.restore();
        await admin.query(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS true`);
      }

      /** Rows of the node's database, read around the node (and around the proxy). */
      async function storedWith(clientMessageId: string): Promise<number> {
        const direct = new pg.Client({ connectionString: databaseUrl });
        await direct.connect();
        try {
          const { rows } = await direct.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE client_message_id = $1', [clientMessageId]);
          return Number(rows[0]!.n);
        } finally {
          await direct.end();
        }
      }

      it('answers ERROR UNAVAILABLE while the database is down, keeps the connection and the node, and recovers', async () => {
        const [me, other] = await freshUsers(t, 2);
        const conv = await createGroup(t.db, [me!, other!]);
        const sender = await clients.online(me!);
        const peer = await clients.online(other!);
        await sender.request('SEND_MESSAGE', { conversationId: conv, content: 'before' }, 'MESSAGE_SENT');
        expect(await status(`${t.http}/readyz`)).toBe(200);

        broken = true;
        await breakDatabase();
        try {
          const failed = await sender.request('SEND_MESSAGE', { conversationId: conv, content: 'during', clientMessageId: 'outage-1' }, 'MESSAGE_SENT', 15_000);
          expect(failed.method).toBe('ERROR');
          expect(failed.data).toMatchObject({ code: 'UNAVAILABLE', method: 'SEND_MESSAGE', clientMessageId: 'outage-1', requestId: expect.any(String) });
          const fetchFailed = await sender.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES', 15_000);
          expect(fetchFailed.data).toMatchObject({ code: 'UNAVAILABLE', method: 'FETCH_MESSAGES' });
          // A sign-in cannot build INIT: UNAVAILABLE, and the connection stays open to try again.
          const late = await clients.open();
          late.send('AUTHENTICATE', { token: await t.token(me!) });
          expect((await waitFor(late, 'ERROR', () => true, 15_000)).data).toMatchObject({ code: 'UNAVAILABLE', method: 'AUTHENTICATE' });

          // The connections and the node are still there.
          await expectAlive(sender);
          await expectAlive(late);
          expect(await status(`${t.http}/healthz`)).toBe(200);
          expect(await status(`${t.http}/readyz`)).toBe(503);
          expect(received(peer, 'MESSAGE_SENT').map((f) => f.data.message.content)).toEqual(['before']);
        } finally {
          await restore();
        }

        // Back: the retry of the same clientMessageId stores it now (nothing was stored before).
        const retried = await sender.request('SEND_MESSAGE', { conversationId: conv, content: 'during', clientMessageId: 'outage-1' }, 'MESSAGE_SENT', 15_000);
        expect(retried.method).toBe('MESSAGE_SENT');
        expect((await waitFor(peer, 'MESSAGE_SENT', (d) => d.message.clientMessageId === 'outage-1')).data.message).toEqual(retried.data.message);
        expect(await storedWith('outage-1')).toBe(1);
        expect(await status(`${t.http}/readyz`)).toBe(200);
        const again = await clients.open();
        again.send('AUTHENTICATE', { token: await t.token(me!) });
        expect((await waitFor(again, 'INIT')).data.userId).toBe(me);
      });
    });
  }
}
