/** GET /massenger/:conversationId and the case-insensitive prefix (spec §3), on each backend. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../support/client.js';
import { createUser } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { auth, backends, envelope, failure, name, send, startConversation, success } from './support.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

for (const backend of backends) {
  describe(`GET /massenger/:conversationId (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    const get = async (callerId: string, url: string) => t.node.app.inject({ method: 'GET', url, headers: await auth(t, callerId) });
    const list = async (callerId: string): Promise<any[]> => success(await get(callerId, '/massenger')).conversations;
    const ids = (conversations: any[]) => conversations.map((c) => c.id);
    const start = (callerId: string, userIds: string[]) => startConversation(t, callerId, userIds);

    async function signIn(userId: string): Promise<TestClient> {
      // t.close() closes every client it signed in.
      return (await t.signIn(userId)).client;
    }

    describe('one conversation', () => {
      it('answers the Conversation with its messages newest last', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        const a = await signIn(alice);
        const sent = [];
        for (const content of ['one', 'two', 'three']) sent.push(await send(a, conversationId, content));
        const { conversation } = success(await get(bob, `/massenger/${conversationId}`));
        expect(conversation).toMatchObject({
          id: conversationId,
          createdAt: expect.stringMatching(ISO),
          lastActivityAt: sent[2].createdAt,
          lastMessage: sent[2],
          unread: true,
          active: true,
          hasMore: false,
        });
        expect(conversation.messages).toEqual(sent);
        expect(conversation.users.map((u: any) => u.id).sort()).toEqual([alice, bob].sort());
        // The same view as the list gives, plus messages and hasMore.
        const { messages, hasMore, ...rest } = conversation;
        expect((await list(bob))[0]).toEqual(rest);
      });

      it('pages messages with limit and before', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        const a = await signIn(alice);
        const sent: any[] = [];
        for (let i = 1; i <= 5; i++) sent.push(await send(a, conversationId, `m${i}`));
        const page = async (query: string) => success(await get(alice, `/massenger/${conversationId}${query}`)).conversation;

        const newest = await page('?limit=2');
        expect(newest.messages).toEqual(sent.slice(3));
        expect(newest.hasMore).toBe(true);
        const older = await page(`?limit=2&before=${sent[3].id}`);
        expect(older.messages).toEqual(sent.slice(1, 3));
        expect(older.hasMore).toBe(true);
        const oldest = await page(`?before=${sent[1].id}&limit=2`);
        expect(oldest.messages).toEqual(sent.slice(0, 1));
        expect(oldest.hasMore).toBe(false);
        expect((await page('?limit=5')).hasMore).toBe(false);
        expect((await page('')).messages).toEqual(sent);
        expect((await page(`?before=${sent[0].id}`)).messages).toEqual([]);
      });

      it('answers an empty conversation with no messages', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        const { conversation } = success(await get(alice, `/massenger/${conversationId}`));
        expect(conversation).toMatchObject({ id: conversationId, lastMessage: null, messages: [], hasMore: false, unread: false });
      });

      it('answers 404 with the same body for a non-member and for an unknown conversation', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const eve = await createUser(t.db, name('eve'));
        const conversationId = await start(alice, [bob]);
        const stranger = await get(eve, `/massenger/${conversationId}`);
        failure(stranger, 404);
        const unknown = await get(eve, '/massenger/9223372036854775807');
        failure(unknown, 404);
        expect(unknown.body).toBe(stranger.body);
        // Ids that cannot exist: 0, just past bigint, and far past it.
        for (const id of [String(Number(conversationId) + 100000), '0', '9223372036854775808', '12345678901234567890']) {
          const res = await get(eve, `/massenger/${id}`);
          expect(res.statusCode, id).toBe(404);
          expect(res.body).toBe(stranger.body);
        }
        failure(await get(eve, '/massenger/abc'), 400);
        // A stranger learns nothing from paging either.
        const paged = await get(eve, `/massenger/${conversationId}?limit=1`);
        expect(paged.body).toBe(stranger.body);
      });

      it.each(['?limit=0', '?limit=101', '?limit=x', '?before=abc', '?before=-1'])('answers 400 for %s', async (query) => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        failure(await get(alice, `/massenger/${conversationId}${query}`), 400);
      });

      it('answers 401 without a valid token, even for a conversation that exists', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        const res = await t.node.app.inject({ method: 'GET', url: `/massenger/${conversationId}` });
        failure(res, 401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        failure(await t.node.app.inject({ method: 'GET', url: '/massenger/abc?limit=0' }), 401);
      });
    });

    describe('the /massenger prefix', () => {
      it('matches case-insensitively on every public route', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const headers = await auth(t, alice);
        const created = await t.node.app.inject({ method: 'POST', url: '/MASSENGER/startConversation', headers, payload: { userIds: [bob] } });
        const { conversationId } = success(created);
        const mixed = await t.node.app.inject({ method: 'POST', url: '/Massenger/StartConversation', headers, payload: { userIds: [bob] } });
        success(mixed);
        expect(ids(success(await get(alice, '/Massenger')).conversations)).toContain(conversationId);
        expect(ids(success(await get(alice, '/MASSENGER?limit=1')).conversations)).toHaveLength(1);
        expect(success(await get(alice, `/Massenger/${conversationId}`)).conversation.id).toBe(conversationId);
        envelope(await t.node.app.inject({ method: 'GET', url: '/MaSsEnGeR' }));
        expect((await t.node.app.inject({ method: 'GET', url: '/MaSsEnGeR' })).statusCode).toBe(401);
      });
    });
  });
}
