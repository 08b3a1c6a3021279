/**
 * PATCH and DELETE /massenger/messages/:messageId (spec §3, issue 8) on each backend: the rules and
 * events of EDIT_MESSAGE and DELETE_MESSAGE, the envelope, and 401, then 400, then 404, then 403.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../support/client.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { auth, backends, failure, name, send, success } from './support.js';

for (const backend of backends) {
  describe(`PATCH and DELETE /massenger/messages/:messageId (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    const patch = async (callerId: string, id: string, payload: unknown) =>
      t.node.app.inject({ method: 'PATCH', url: `/massenger/messages/${id}`, headers: await auth(t, callerId), payload: payload as object });
    const del = async (callerId: string, id: string) => t.node.app.inject({ method: 'DELETE', url: `/massenger/messages/${id}`, headers: await auth(t, callerId) });

    async function setup(): Promise<{ a: string; b: string; x: string; conv: string; a1: TestClient; b1: TestClient; m: any }> {
      const [a, b, x] = [await createUser(t.db, name('a')), await createUser(t.db, name('b')), await createUser(t.db, name('x'))];
      const conv = await createGroup(t.db, [a, b]);
      const a1 = (await t.signIn(a)).client;
      const b1 = (await t.signIn(b)).client;
      const m = await send(a1, conv, 'original');
      return { a, b, x, conv, a1, b1, m };
    }

    it('edits: 200 with the message as it is now, and MESSAGE_EDITED to every connection, without requestId', async () => {
      const { a, a1, b1, m } = await setup();
      const { message } = success(await patch(a, m.id, { content: 'edited over HTTP' }));
      expect(message).toEqual({ ...m, content: 'edited over HTTP', updatedAt: expect.any(String) });
      expect(Date.parse(message.updatedAt)).toBeGreaterThan(Date.parse(m.updatedAt));
      for (const c of [a1, b1]) expect((await c.next('MESSAGE_EDITED')).data).toEqual({ message });
    });

    it('deletes: 200 with the tombstone, MESSAGE_DELETED to every connection; again, 200 with the same tombstone and no event', async () => {
      const { a, b, conv, a1, b1, m } = await setup();
      const { message } = success(await del(a, m.id));
      expect(message).toEqual({ ...m, content: '', updatedAt: message.deletedAt, deletedAt: expect.any(String) });
      for (const c of [a1, b1]) expect((await c.next('MESSAGE_DELETED')).data).toEqual({ message });
      expect(success(await del(a, m.id))).toEqual({ message });
      // Fence: a PONG comes after anything the second delete could have sent.
      for (const c of [a1, b1]) await c.request('PING', {}, 'PONG');
      expect(a1.all('MESSAGE_DELETED')).toHaveLength(1);
      expect(b1.all('MESSAGE_DELETED')).toHaveLength(1);
      const { conversation } = success(await t.node.app.inject({ method: 'GET', url: `/massenger/${conv}`, headers: await auth(t, b) }));
      expect(conversation.messages).toEqual([message]);
      expect(conversation.lastMessage).toEqual(message);
      expect(failure(await patch(a, m.id, { content: 'back?' }), 404)).toMatch(/not found/);
    });

    it('401 before anything else, then 400 for bad input, 404 for strangers and unknown ids, 403 for another member', async () => {
      const { a, b, x, m } = await setup();
      const anonymous = await t.node.app.inject({ method: 'PATCH', url: `/massenger/messages/${m.id}`, payload: { content: '' } });
      failure(anonymous, 401);
      failure(await t.node.app.inject({ method: 'DELETE', url: '/massenger/messages/abc' }), 401);
      for (const payload of [{}, { content: '' }, { content: '   ' }, { content: 7 }, { content: 'x'.repeat(4001) }, { content: null }]) {
        failure(await patch(x, m.id, payload), 400);
        failure(await patch(b, m.id, payload), 400);
      }
      failure(await patch(a, 'abc', { content: 'ok' }), 400);
      failure(await del(a, 'abc'), 400);
      failure(await patch(x, m.id, { content: 'ok' }), 404);
      failure(await del(x, m.id), 404);
      failure(await patch(a, '0', { content: 'ok' }), 404);
      failure(await del(a, '99999999999999999999999'), 404);
      failure(await patch(b, m.id, { content: 'ok' }), 403);
      failure(await del(b, m.id), 403);
      const { rows } = await t.db.query<{ content: string }>('SELECT content FROM messages WHERE id = $1', [m.id]);
      expect(rows).toEqual([{ content: 'original' }]);
    });

    it('the conversation views carry unreadCount and private', async () => {
      const { a, b, conv, m } = await setup();
      const { conversation } = success(await t.node.app.inject({ method: 'GET', url: `/massenger/${conv}`, headers: await auth(t, b) }));
      expect(conversation).toMatchObject({ unread: true, unreadCount: 1, private: false, lastMessage: m });
      const { conversations } = success(await t.node.app.inject({ method: 'GET', url: '/massenger', headers: await auth(t, a) }));
      expect(conversations[0]).toMatchObject({ id: conv, unread: false, unreadCount: 0, private: false });
    });
  });
}
