/**
 * The client library against the real program (`node dist/src/main.js`) on PostgreSQL, while that
 * process is stopped (SIGTERM: close 1001) or killed (SIGKILL: no close at all) and started again
 * on the same port. Every send resolves, each is stored once, and the other member receives each
 * message once, across the outage.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/client/index.js';
import { ensureBuilt, killAll, startServer, stop, waitUntilServing, type Server } from '../process/proc.js';
import { freePort } from '../../scripts/support/ports.js';
import { befriend, createUser } from '../../scripts/support/fixtures.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { freshDatabase } from '../support/pg.js';
import { needs } from '../support/services.js';
import { Clients, type Recorder } from './support.js';

describe.runIf(await needs('postgres'))('MassengerClient across a restart of the server process', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: pg.Pool;
  const clients = new Clients();
  beforeAll(async () => {
    await ensureBuilt();
    database = await freshDatabase();
    db = new pg.Pool({ connectionString: database.url, max: 2 });
    // The drop at the end terminates whatever is still connected, a client being ended included:
    // that is expected, and an unheard pool error would end the whole test run.
    db.on('error', () => {});
  }, 150_000);
  afterEach(async () => {
    clients.closeAll();
    await killAll();
  });
  afterAll(async () => {
    await db?.end();
    await database?.drop();
  });

  async function serve(port: number): Promise<Server> {
    const server = await startServer({ PORT: String(port), DATABASE_URL: database.url, JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' });
    await waitUntilServing(server, '/readyz');
    return server;
  }

  /** Alice sends, Bob receives; both reconnect quickly once the server is back. */
  async function setup(port: number) {
    const query = async <R>(text: string, values?: unknown[]) => ({ rows: (await db.query(text, values)).rows as R[] });
    const alice = await createUser({ query }, `alice_${port}`);
    const bob = await createUser({ query }, `bob_${port}`);
    const conversationId = await befriend({ query }, alice, bob);
    const fast = { backoff: { baseMs: 50, maxMs: 300 } };
    const a = clients.make({ url: `ws://127.0.0.1:${port}/`, token: () => signToken(alice), ...fast });
    const b = clients.make({ url: `ws://127.0.0.1:${port}/`, token: () => signToken(bob), ...fast });
    await Promise.all([a.client.connect(), b.client.connect()]);
    return { conversationId, a, b };
  }

  async function expectStoredOnce(sent: Message[]): Promise<void> {
    const { rows } = await db.query<{ id: string; client_message_id: string }>(
      // Ordered by the bigint, not by its text.
      'SELECT m.id::text AS id, m.client_message_id FROM messages m WHERE m.client_message_id = ANY($1) ORDER BY m.id',
      [sent.map((m) => m.clientMessageId)],
    );
    expect(rows.map((r) => r.client_message_id)).toEqual(sent.map((m) => m.clientMessageId));
    expect(rows.map((r) => r.id)).toEqual(sent.map((m) => m.id));
  }

  /** Bob has every one of `sent`, exactly once, live or in a resuming INIT. */
  async function expectReceivedOnce(rec: Recorder, sent: Message[]): Promise<void> {
    const ids = new Set(sent.map((m) => m.id));
    const got = () => rec.messagesReceived().filter((m) => ids.has(m.id));
    await rec.until(() => new Set(got().map((m) => m.id)).size === ids.size, `all ${ids.size} messages at the receiver`, 15_000);
    expect(got().map((m) => m.id).sort()).toEqual([...ids].sort());
  }

  it('after SIGTERM (1001) and a restart: sends made meanwhile are written again, stored and received once', async () => {
    const port = await freePort();
    const first = await serve(port);
    const { conversationId, a, b } = await setup(port);
    const before = await a.client.send(conversationId, 'before the restart');

    expect((await stop(first)).code).toBe(0);
    await a.rec.waitFor('state', (s) => s.state === 'reconnecting' && s.code === 1001);
    const during = ['while down 1', 'while down 2', 'while down 3'].map((text) => a.client.send(conversationId, text));
    expect(a.client.pendingSends).toBe(3);

    await serve(port);
    const sent = [before, ...(await Promise.all(during))];
    await expectStoredOnce(sent);
    await expectReceivedOnce(b.rec, sent);
    expect(b.rec.all('state', (s) => s.code === 1001)).toHaveLength(1);
  });

  it('after kill -9 with sends in flight and a restart: every send resolves, none is stored twice', async () => {
    const port = await freePort();
    const first = await serve(port);
    const { conversationId, a, b } = await setup(port);
    const sends = Array.from({ length: 50 }, (_, i) => a.client.send(conversationId, `burst ${i}`));
    // Killed the moment the first acknowledgement arrives: the rest are in flight or queued.
    await a.rec.waitFor('MESSAGE_SENT');
    first.child.kill('SIGKILL');
    const pendingAtKill = a.client.pendingSends;
    expect(pendingAtKill).toBeGreaterThan(0);
    await first.exited;
    await a.rec.waitFor('state', (s) => s.state === 'reconnecting' && s.code === 1006);

    await serve(port);
    const sent = await Promise.all(sends);
    expect(sent.map((m) => m.content)).toEqual(Array.from({ length: 50 }, (_, i) => `burst ${i}`));
    // Written again in the order they were made, so they are stored in that order too.
    await expectStoredOnce(sent);
    await expectReceivedOnce(b.rec, sent);
    expect(a.rec.messagesReceived().filter((m) => m.content.startsWith('burst'))).toHaveLength(50);
  });
});
