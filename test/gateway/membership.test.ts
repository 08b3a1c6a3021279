/**
 * Adding people and leaving, as the connections see it (spec §2.3 membership, issue 8): everyone
 * concerned hears MEMBERS_CHANGED, the added who are online are invited and receive what is
 * stored after; the one who left hears it, then nothing more of that conversation, on any of
 * their connections, and it is NOT_FOUND for them everywhere. "Nothing more" is proven with a
 * fence: a message in another conversation, sent after, that they must receive first.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import type { TestClient } from '../support/client.js';
import { befriend, createGroup } from '../../scripts/support/fixtures.js';
import { expectAlive, freshUsers, nodeForSuite, received, waitFor } from './helpers.js';

for (const backend of await backends()) {
  describe(`gateway members: add and leave (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend);
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    const http = async (method: 'POST' | 'DELETE' | 'GET', callerId: string, url: string, payload?: unknown) => {
      const res = await t.node.app.inject({ method, url, headers: { authorization: `Bearer ${await t.token(callerId)}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
      return { status: res.statusCode, body: res.json() };
    };

    async function send(client: TestClient, conversationId: string, content: string) {
      const reply = await client.request('SEND_MESSAGE', { conversationId, content }, 'MESSAGE_SENT');
      expect(reply.method, JSON.stringify(reply.data)).toBe('MESSAGE_SENT');
      return reply.data.message;
    }

    it('adding: MEMBERS_CHANGED to every connection of every member and the added, INVITATION_SENT to the added online; they get what follows and the history', async () => {
      const [a, b, c, d] = await freshUsers(t, 4);
      const conv = await createGroup(t.db, [a!, b!]);
      const a1 = await clients.online(a!);
      const b1 = await clients.online(b!);
      const early = await send(a1, conv, 'before c came');
      const c1 = await clients.online(c!);
      const c2 = await clients.online(c!);
      const res = await http('POST', a!, `/massenger/${conv}/members`, { userIds: [c, d, b, c] });
      expect(res).toEqual({ status: 200, body: { data: { conversationId: conv, added: [c, d] }, errors: null } });
      const change = { conversationId: conv, added: [c, d], removed: [], by: a };
      for (const x of [a1, b1, c1, c2]) expect((await waitFor(x, 'MEMBERS_CHANGED')).data).toEqual(change);
      for (const x of [c1, c2]) {
        expect((await waitFor(x, 'INVITATION_SENT')).data).toEqual({ conversationId: conv });
        expect(x.frames.map((f) => f.method).filter((m) => m !== 'INIT')).toEqual(['MEMBERS_CHANGED', 'INVITATION_SENT']);
      }
      for (const x of [a1, b1]) await expectAlive(x);
      expect([...received(a1, 'INVITATION_SENT'), ...received(b1, 'INVITATION_SENT')]).toEqual([]);
      const next = await send(b1, conv, 'welcome');
      for (const x of [c1, c2]) expect((await waitFor(x, 'MESSAGE_SENT')).data).toEqual({ message: next });
      const history = await c1.request('FETCH_MESSAGES', { conversationId: conv }, 'MESSAGES');
      expect(history.data.messages.map((m: any) => m.id)).toEqual([early.id, next.id]);
      const { init } = await clients.signIn(d!);
      expect(init.conversations.map((x: any) => x.id)).toContain(conv);
      // Adding only members again changes nothing and tells no one.
      expect((await http('POST', b!, `/massenger/${conv}/members`, { userIds: [a, c] })).body.data).toEqual({ conversationId: conv, added: [] });
      await expectAlive(a1);
      expect(received(a1, 'MEMBERS_CHANGED')).toHaveLength(1);
    });

    it('leaving: every connection hears it, the leaver\u2019s included; then nothing more of it reaches them, and it is NOT_FOUND everywhere', async () => {
      const [a, b, c, d] = await freshUsers(t, 4);
      const conv = await createGroup(t.db, [a!, b!, c!]);
      const fenceConv = await createGroup(t.db, [a!, b!]);
      const a1 = await clients.online(a!);
      const b1 = await clients.online(b!);
      const b2 = await clients.online(b!);
      const c1 = await clients.online(c!);
      const own = await send(b1, conv, 'b wrote this before leaving');
      const last = await send(a1, conv, 'the last thing b saw');

      const res = await http('DELETE', b!, `/massenger/${conv}/members/${b}`);
      expect(res).toEqual({ status: 200, body: { data: { conversationId: conv, removed: [b] }, errors: null } });
      const change = { conversationId: conv, added: [], removed: [b], by: b };
      for (const x of [a1, b1, b2, c1]) expect((await waitFor(x, 'MEMBERS_CHANGED')).data).toEqual(change);

      // Everything the others do there now: a message, an edit, typing, a read, another change of members.
      await send(a1, conv, 'after b left');
      await a1.request('EDIT_MESSAGE', { messageId: last.id, content: 'edited after b left' }, 'MESSAGE_EDITED');
      a1.send('TYPING', { conversationId: conv });
      await waitFor(c1, 'TYPING');
      c1.send('OPEN_CONVERSATION', { conversationId: conv });
      await waitFor(a1, 'CONVERSATION_SEEN', (x) => x.userId === c);
      expect((await http('POST', a!, `/massenger/${conv}/members`, { userIds: [d] })).status).toBe(200);
      const fence = await send(a1, fenceConv, 'fence');
      for (const x of [b1, b2]) {
        await waitFor(x, 'MESSAGE_SENT', (m) => m.message.id === fence.id);
        const after = x.frames.slice(x.frames.findIndex((f) => f.method === 'MEMBERS_CHANGED') + 1);
        expect(after.map((f) => f.method)).toEqual(['MESSAGE_SENT']);
      }

      for (const [method, data] of [
        ['SEND_MESSAGE', { conversationId: conv, content: 'let me back' }],
        ['FETCH_MESSAGES', { conversationId: conv }],
        ['OPEN_CONVERSATION', { conversationId: conv }],
        ['TYPING', { conversationId: conv }],
        ['EDIT_MESSAGE', { messageId: own.id, content: 'mine still?' }],
        ['DELETE_MESSAGE', { messageId: own.id }],
      ] as const) {
        const reply = await b1.request(method, data, 'NONE');
        expect(reply.data, method).toMatchObject({ code: 'NOT_FOUND', method });
      }
      expect((await http('GET', b!, `/massenger/${conv}`)).status).toBe(404);
      expect((await http('GET', b!, '/massenger')).body.data.conversations.map((x: any) => x.id)).not.toContain(conv);
      expect((await http('DELETE', b!, `/massenger/${conv}/members/${b}`)).status).toBe(404);
      const { init } = await clients.signIn(b!, { lastMessageId: own.id });
      expect(init.conversations.map((x: any) => x.id)).not.toContain(conv);
      expect(init.missedMessages.filter((m: any) => m.conversationId === conv)).toEqual([]);
    });

    it('a private conversation never changes its members; a stranger gets 404 first', async () => {
      const [a, b, c] = await freshUsers(t, 3);
      const priv = await befriend(t.db, a!, b!);
      const a1 = await clients.online(a!);
      expect((await http('POST', a!, `/massenger/${priv}/members`, { userIds: [c] })).status).toBe(403);
      expect((await http('DELETE', a!, `/massenger/${priv}/members/${a}`)).status).toBe(403);
      expect((await http('POST', c!, `/massenger/${priv}/members`, { userIds: [c] })).status).toBe(404);
      expect((await http('DELETE', c!, `/massenger/${priv}/members/${c}`)).status).toBe(404);
      await expectAlive(a1);
      expect(received(a1, 'MEMBERS_CHANGED')).toEqual([]);
      const { rows } = await t.db.query('SELECT user_id FROM users_conversations WHERE conversation_id = $1', [priv]);
      expect(rows).toHaveLength(2);
    });
  });
}
