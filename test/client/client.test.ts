/**
 * The client library against a real node on port 0 over loopback: one typed method per request,
 * answers matched by requestId, errors with the contract's code, events by their contract names.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { befriend, createGroup } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { freshUsers } from '../gateway/helpers.js';
import { Clients, NODE_START_MS, startTestNode } from './support.js';

describe('MassengerClient against a node', () => {
  let t: TestNode;
  const clients = new Clients();
  beforeAll(async () => {
    t = await startTestNode();
  }, NODE_START_MS);
  afterEach(() => clients.closeAll());
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  /** Two friends with their private conversation, and a third user's group they are not in. */
  async function setup() {
    const [alice, bob, carol] = await freshUsers(t, 3, 'client');
    const privateId = await befriend(t.db, alice!, bob!);
    const strangersId = await createGroup(t.db, [bob!, carol!]);
    const a = clients.make({ url: t.ws, token: () => t.token(alice!) });
    const b = clients.make({ url: t.ws, token: () => t.token(bob!) });
    await Promise.all([a.client.connect(), b.client.connect()]);
    return { alice: alice!, bob: bob!, carol: carol!, privateId, strangersId, a, b };
  }

  it('connects and signs in: INIT as an event and from connect(), state open', async () => {
    const { alice, privateId, a } = await setup();
    const init = await a.rec.waitFor('INIT');
    expect(init.userId).toBe(alice);
    expect(init.conversations.map((c) => c.id)).toContain(privateId);
    expect(a.client.state).toBe('open');
    expect(a.client.userId).toBe(alice);
    expect(a.rec.all('state').map((s) => s.state)).toEqual(['connecting', 'open']);
  });

  it('send() resolves with the stored message, the sender’s MESSAGE_SENT, with a clientMessageId', async () => {
    const { alice, privateId, a, b } = await setup();
    const message = await a.client.send(privateId, 'hello bob');
    expect(message).toMatchObject({ conversationId: privateId, author: alice, content: 'hello bob', deletedAt: null });
    expect(message.clientMessageId).toMatch(/^[0-9a-f]{32}$/);
    const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE id = $1', [message.id]);
    expect(Number(rows[0]!.n)).toBe(1);
    // The other member gets it as an event; the sender's own copy is its event too, once.
    expect((await b.rec.waitFor('MESSAGE_SENT')).message).toEqual(message);
    expect(a.rec.all('MESSAGE_SENT').map((d) => d.message.id)).toEqual([message.id]);
    expect(a.client.lastMessageId).toBe(message.id);
    expect(a.client.pendingSends).toBe(0);
  });

  it('a clientMessageId given twice stores one message and both sends resolve with it', async () => {
    const { privateId, a } = await setup();
    const [one, two] = await Promise.all([
      a.client.send(privateId, 'once', { clientMessageId: 'fixed-1' }),
      a.client.send(privateId, 'once', { clientMessageId: 'fixed-1' }),
    ]);
    expect(two).toEqual(one);
    expect(a.rec.all('MESSAGE_SENT')).toHaveLength(1);
  });

  it('fetchMessages, openConversation and ping resolve on their own answers', async () => {
    const { alice, bob, privateId, a, b } = await setup();
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await b.client.send(privateId, text));
    const page = await a.client.fetchMessages(privateId, { limit: 2 });
    expect(page).toMatchObject({ conversationId: privateId, hasMore: true });
    expect(page.messages.map((m) => m.content)).toEqual(['two', 'three']);
    const older = await a.client.fetchMessages(Number(privateId), { before: page.messages[0]!.id });
    expect(older.messages.map((m) => m.id)).toEqual([sent[0]!.id]);
    const seen = await a.client.openConversation(privateId);
    expect(seen).toMatchObject({ conversationId: privateId, userId: alice });
    expect((await b.rec.waitFor('CONVERSATION_SEEN', (d) => d.userId === alice)).conversationId).toBe(privateId);
    expect(await a.client.ping()).toBeGreaterThanOrEqual(0);
    expect(bob).not.toBe(alice);
  });

  it('typing() reaches the other member as TYPING', async () => {
    const { alice, privateId, a, b } = await setup();
    expect(a.client.typing(privateId)).toBe(true);
    expect(await b.rec.waitFor('TYPING')).toEqual({ conversationId: privateId, userId: alice });
  });

  it('a refused request rejects with the contract’s code; its ERROR is not also an event', async () => {
    const { strangersId, privateId, a } = await setup();
    await expect(a.client.send(strangersId, 'let me in')).rejects.toMatchObject({ name: 'MassengerError', code: 'NOT_FOUND' });
    await expect(a.client.fetchMessages(strangersId)).rejects.toMatchObject({ code: 'NOT_FOUND', context: { method: 'FETCH_MESSAGES' } });
    const blank = a.client.send(privateId, '   ', { clientMessageId: 'blank-1' });
    await expect(blank).rejects.toMatchObject({ code: 'INVALID_DATA', context: { clientMessageId: 'blank-1' } });
    expect(a.client.pendingSends).toBe(0);
    // A TYPING nobody waits on: its refusal is the ERROR event.
    a.client.typing(strangersId);
    expect(await a.rec.waitFor('ERROR')).toMatchObject({ code: 'NOT_FOUND', method: 'TYPING' });
    expect(a.rec.all('ERROR')).toHaveLength(1);
  });

  // EDIT_MESSAGE, DELETE_MESSAGE and MEMBERS_CHANGED (contract §2.1–§2.3, issue 8 on the server).
  it('editMessage and deleteMessage resolve with the new version; the other member gets each once', async () => {
    const { privateId, a, b } = await setup();
    const original = await a.client.send(privateId, 'tpyo');
    const edited = await a.client.editMessage(original.id, 'typo');
    expect(edited).toMatchObject({ id: original.id, content: 'typo', deletedAt: null });
    expect(Date.parse(edited.updatedAt)).toBeGreaterThan(Date.parse(original.updatedAt));
    expect((await b.rec.waitFor('MESSAGE_EDITED')).message).toEqual(edited);
    const tombstone = await a.client.deleteMessage(original.id);
    expect(tombstone).toMatchObject({ id: original.id, content: '', clientMessageId: original.clientMessageId });
    expect(tombstone.deletedAt).not.toBeNull();
    expect((await b.rec.waitFor('MESSAGE_DELETED')).message).toEqual(tombstone);
    // Deleting again answers with the same tombstone (contract §2.3) and is no new version.
    expect(await a.client.deleteMessage(original.id)).toEqual(tombstone);
    expect(a.rec.all('MESSAGE_DELETED')).toHaveLength(1);
    await expect(b.client.editMessage(original.id, 'not mine')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const other = await a.client.send(privateId, 'still here');
    await expect(b.client.deleteMessage(other.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('MEMBERS_CHANGED reaches members when someone is added over HTTP', async () => {
    const { alice, carol, a } = await setup();
    const groupId = await createGroup(t.db, [alice]);
    const res = await fetch(`${t.http}/massenger/${groupId}/members`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.token(alice)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: [carol] }),
    });
    expect(res.status).toBe(200);
    expect(await a.rec.waitFor('MEMBERS_CHANGED')).toEqual({ conversationId: groupId, added: [carol], removed: [], by: alice });
  });
});
