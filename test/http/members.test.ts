/**
 * POST /massenger/:conversationId/members and DELETE /massenger/:conversationId/members/:userId
 * (spec §3, issue 8) on each backend: answers, limits, and the order 401, 400, 404, 403; a refused
 * request changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { befriend, createGroup, createUser } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { auth, backends, failure, name, success } from './support.js';

for (const backend of backends) {
  describe(`POST and DELETE /massenger/:conversationId/members (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    const user = (prefix = 'm') => createUser(t.db, name(prefix));
    const add = async (callerId: string, conversationId: string, payload: unknown) =>
      t.node.app.inject({ method: 'POST', url: `/massenger/${conversationId}/members`, headers: await auth(t, callerId), payload: payload as object });
    const leave = async (callerId: string, conversationId: string, userId: string) =>
      t.node.app.inject({ method: 'DELETE', url: `/Massenger/${conversationId}/members/${userId}`, headers: await auth(t, callerId) });
    const count = async (conversationId: string) =>
      Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM users_conversations WHERE conversation_id = $1', [conversationId])).rows[0]!.n);

    it('adds those not yet members and answers who they are', async () => {
      const [a, b, c] = [await user(), await user(), await user()];
      const conv = await createGroup(t.db, [a, b]);
      expect(success(await add(a, conv, { userIds: [c, b, c, a] }))).toEqual({ conversationId: conv, added: [c] });
      // Ids as JSON numbers are ids too (spec §2).
      const d = await user();
      expect(success(await add(c, conv, { userIds: [Number(d)] }))).toEqual({ conversationId: conv, added: [d] });
      expect(await count(conv)).toBe(4);
    });

    it('holds at most 256 members: members and repeats do not count, and a refusal adds no one', async () => {
      const creator = await user('big');
      const first = await Promise.all(Array.from({ length: 254 }, () => user('big')));
      const conv = await createGroup(t.db, [creator, ...first]);
      const [x, y, z] = [await user(), await user(), await user()];
      failure(await add(creator, conv, { userIds: [x, y, z] }), 400);
      expect(await count(conv)).toBe(255);
      expect(success(await add(creator, conv, { userIds: [x, x, creator, ...first.slice(0, 100)] })).added).toEqual([x]);
      failure(await add(creator, conv, { userIds: [y] }), 400);
      // Too many is said to members only: a stranger learns nothing of the conversation's size.
      failure(await add(y, conv, { userIds: [y, z] }), 404);
      expect(await count(conv)).toBe(256);
    });

    it('refuses in order: 401, 400 (shape, unknown users), 404 (not a member), 403 (private)', async () => {
      const [a, b, stranger] = [await user(), await user(), await user()];
      const conv = await createGroup(t.db, [a, b]);
      const priv = await befriend(t.db, a, b);
      failure(await t.node.app.inject({ method: 'POST', url: `/massenger/${conv}/members`, payload: { userIds: 'nope' } }), 401);
      const bad = [{}, { userIds: [] }, { userIds: 'x' }, { userIds: ['abc'] }, { userIds: ['0'] }, { userIds: Array.from({ length: 256 }, (_, i) => String(i + 1)) }, { userIds: ['999999999999'] }];
      for (const payload of bad) {
        failure(await add(stranger, conv, payload), 400);
        failure(await add(a, priv, payload), 400);
      }
      failure(await add(a, 'abc', { userIds: [b] }), 400);
      failure(await add(stranger, conv, { userIds: [stranger] }), 404);
      failure(await add(a, '99999999999999999999999', { userIds: [b] }), 404);
      failure(await add(stranger, priv, { userIds: [stranger] }), 404);
      failure(await add(a, priv, { userIds: [stranger] }), 403);
      expect(await count(conv)).toBe(2);
      expect(await count(priv)).toBe(2);
    });

    it('leaving: only oneself; 400, then 404 (not a member), then 403 (someone else, private)', async () => {
      const [a, b, stranger] = [await user(), await user(), await user()];
      const conv = await createGroup(t.db, [a, b]);
      const priv = await befriend(t.db, a, b);
      failure(await t.node.app.inject({ method: 'DELETE', url: `/massenger/${conv}/members/${a}` }), 401);
      failure(await leave(a, conv, 'abc'), 400);
      failure(await leave(a, 'abc', a), 400);
      failure(await leave(stranger, conv, a), 404);
      failure(await leave(stranger, conv, stranger), 404);
      failure(await leave(a, '99999999999999999999999', a), 404);
      failure(await leave(a, conv, b), 403);
      failure(await leave(a, conv, '99999999999999999999999'), 403);
      failure(await leave(a, priv, a), 403);
      failure(await leave(stranger, priv, stranger), 404);
      expect(await count(conv)).toBe(2);
      expect(success(await leave(b, conv, b))).toEqual({ conversationId: conv, removed: [b] });
      expect(await count(conv)).toBe(1);
      failure(await leave(b, conv, b), 404);
    });
  });
}
