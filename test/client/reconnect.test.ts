/**
 * Links that fail between the client and a real node: a real TCP proxy on loopback cuts, freezes
 * or refuses them. The client must reconnect on its own, resume from the highest message id it
 * saw, write unacknowledged sends again without storing any twice, and notice a dead link by its
 * heartbeat.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { befriend } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { freshUsers } from '../gateway/helpers.js';
import { Clients, NODE_START_MS, startTestNode, TcpProxy } from './support.js';

describe('MassengerClient when the link fails', () => {
  let t: TestNode;
  let proxy: TcpProxy;
  const clients = new Clients();
  beforeAll(async () => {
    t = await startTestNode();
    proxy = await TcpProxy.start((t.node.app.server.address() as AddressInfo).port);
  }, NODE_START_MS);
  afterEach(() => {
    clients.closeAll();
    proxy.refuse(false);
    proxy.cut();
  });
  afterAll(async () => {
    await proxy?.close();
    await t?.close();
  });

  /** Alice through the proxy (the link that fails), Bob straight to the node. */
  async function setup(options: { heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number } = {}) {
    const [alice, bob] = await freshUsers(t, 2, 'resume');
    const conversationId = await befriend(t.db, alice!, bob!);
    const a = clients.make({ url: proxy.url, token: () => t.token(alice!), ...options });
    const b = clients.make({ url: t.ws, token: () => t.token(bob!) });
    await Promise.all([a.client.connect(), b.client.connect()]);
    return { alice: alice!, bob: bob!, conversationId, a, b };
  }

  async function rowsWith(clientMessageId: string): Promise<number> {
    const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE client_message_id = $1', [clientMessageId]);
    return Number(rows[0]!.n);
  }

  it('reconnects after a cut and resumes with lastMessageId: what was stored meanwhile comes in INIT, once', async () => {
    const { conversationId, a, b } = await setup();
    const before = await b.client.send(conversationId, 'before the cut');
    await a.rec.waitFor('MESSAGE_SENT', (d) => d.message.id === before.id);
    expect(a.client.lastMessageId).toBe(before.id);

    proxy.refuse(true);
    proxy.cut();
    const change = await a.rec.waitFor('state', (s) => s.state === 'reconnecting' && s.code === 1006);
    expect(change.delayMs).toBeLessThanOrEqual(50); // the base delay: nothing like a 4429's
    const missed = [];
    for (const text of ['while away 1', 'while away 2', 'while away 3']) missed.push(await b.client.send(conversationId, text));
    proxy.refuse(false);

    const init = await a.rec.waitFor('INIT', () => true, 8000, 2);
    // Only what came after lastMessageId: the message seen before the cut is not sent again.
    expect(init.missedMessages).toEqual(missed);
    expect(init.recovered).toBe(true);
    expect(a.client.state).toBe('open');
    const after = await b.client.send(conversationId, 'after');
    await a.rec.waitFor('MESSAGE_SENT', (d) => d.message.id === after.id);
    const ids = a.rec.messagesReceived().map((m) => m.id);
    expect(ids).toEqual([before.id, ...missed.map((m) => m.id), after.id]);
  });

  it('holds sends made while disconnected and writes them after the reconnect, each stored once', async () => {
    const { conversationId, a, b } = await setup();
    proxy.refuse(true);
    proxy.cut();
    await a.rec.waitFor('state', (s) => s.state === 'reconnecting');
    const sends = ['queued 1', 'queued 2', 'queued 3'].map((text) => a.client.send(conversationId, text));
    expect(a.client.pendingSends).toBe(3);
    proxy.refuse(false);
    const stored = await Promise.all(sends);
    expect(stored.map((m) => m.content)).toEqual(['queued 1', 'queued 2', 'queued 3']);
    // Stored in the order they were made.
    expect([...stored].sort((x, y) => Number(x.id) - Number(y.id))).toEqual(stored);
    for (const m of stored) expect(await rowsWith(m.clientMessageId!)).toBe(1);
    for (const m of stored) await b.rec.waitFor('MESSAGE_SENT', (d) => d.message.id === m.id);
    expect(b.rec.all('MESSAGE_SENT')).toHaveLength(3);
  });

  it('a send stored whose acknowledgement was lost resolves after the reconnect, stored once, seen once', async () => {
    const { conversationId, a, b } = await setup();
    proxy.muteServer();
    const sending = a.client.send(conversationId, 'ack lost', { clientMessageId: 'ack-lost-1' });
    // Stored: Bob has it. Alice's acknowledgement went nowhere.
    const atBob = await b.rec.waitFor('MESSAGE_SENT', (d) => d.message.clientMessageId === 'ack-lost-1');
    expect(a.client.pendingSends).toBe(1);
    proxy.cut();
    const stored = await sending;
    expect(stored).toEqual(atBob.message);
    expect(await rowsWith('ack-lost-1')).toBe(1);
    expect(a.client.pendingSends).toBe(0);
    // A later message proves the link is back; by then every copy of the first has arrived.
    const later = await b.client.send(conversationId, 'later');
    await a.rec.waitFor('MESSAGE_SENT', (d) => d.message.id === later.id);
    expect(a.rec.messagesReceived().filter((m) => m.clientMessageId === 'ack-lost-1')).toHaveLength(1);
  });

  it('notices a link that went silent by its heartbeat, reconnects, and writes again what the dead link swallowed', async () => {
    const { conversationId, a, b } = await setup({ heartbeatIntervalMs: 200, heartbeatTimeoutMs: 300 });
    proxy.freeze();
    // Written to the socket, never delivered: the send must be written again on the next link.
    const swallowed = a.client.send(conversationId, 'into the void', { clientMessageId: 'void-1' });
    const change = await a.rec.waitFor('state', (s) => s.state === 'reconnecting');
    expect(change).toMatchObject({ code: 1006, reason: expect.stringMatching(/PING/) });
    await a.rec.waitFor('INIT', () => true, 8000, 2);
    expect((await swallowed).content).toBe('into the void');
    expect(await rowsWith('void-1')).toBe(1);
    const m = await b.client.send(conversationId, 'after the freeze');
    await a.rec.waitFor('MESSAGE_SENT', (d) => d.message.id === m.id);
  });

  it('surfaces recovered: false as a reload event when more was missed than INIT holds', async () => {
    const { bob, conversationId, a } = await setup();
    proxy.refuse(true);
    proxy.cut();
    await a.rec.waitFor('state', (s) => s.state === 'reconnecting');
    // Spec §2.2: INIT holds at most 1000 missed messages. The main API may write messages itself.
    await t.db.query(
      `INSERT INTO messages (conversation_id, author_id, content) SELECT $1::bigint, $2::bigint, 'bulk ' || g FROM generate_series(1, 1001) g`,
      [conversationId, bob],
    );
    proxy.refuse(false);
    const reload = await a.rec.waitFor('reload');
    expect(reload.recovered).toBe(false);
    expect(reload.missedMessages).toHaveLength(1000);
    expect((await a.rec.waitFor('INIT', () => true, 8000, 2)).recovered).toBe(false);
  });
});
