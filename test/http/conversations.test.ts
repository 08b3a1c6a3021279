/** GET /massenger, the caller's conversations (spec §3), on each backend. */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../support/client.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import type { TestNode } from '../support/node.js';
import { auth, backends, failure, name, send, startConversation, success } from './support.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

for (const backend of backends) {
  describe(`GET /massenger (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    const get = async (callerId: string, url: string) => t.node.app.inject({ method: 'GET', url, headers: await auth(t, callerId) });
    const list = async (callerId: string, query = ''): Promise<any[]> => success(await get(callerId, `/massenger${query}`)).conversations;
    const ids = (conversations: any[]) => conversations.map((c) => c.id);

    async function signIn(userId: string): Promise<TestClient> {
      // t.close() closes every client it signed in.
      return (await t.signIn(userId)).client;
    }

    const start = (callerId: string, userIds: string[]) => startConversation(t, callerId, userIds);

    /** Gives conversations the same creation time, to exercise ties in the (activity, id) order. */
    async function sameCreatedAt(conversationIds: string[]): Promise<void> {
      await t.db.query("UPDATE conversations SET created_at = '2026-01-01T00:00:00Z' WHERE id = ANY($1::bigint[])", [conversationIds]);
    }

    describe('the list', () => {
      it('answers /massenger/ like /massenger (a trailing slash is ignored)', async () => {
        const a = await createUser(t.db, name('slash'));
        const b = await createUser(t.db, name('slash'));
        const c = await start(a, [b]);
        expect(ids(success(await get(a, '/massenger/')).conversations)).toEqual([c]);
      });

      it('lists only the caller\'s conversations, latest activity first, each a full Conversation', async () => {
        const alice = await createUser(t.db, name('alice'), 'https://img.example/alice.png');
        const bob = await createUser(t.db, name('bob'));
        const carol = await createUser(t.db, name('carol'));
        // A few ms apart, so each has an activity time of its own.
        const withBob = await start(alice, [bob]);
        await sleep(10);
        const withCarol = await start(alice, [carol]);
        await sleep(10);
        const group = await start(alice, [bob, carol]);
        await start(bob, [carol]); // not alice's
        await sleep(10);
        const a = await signIn(alice);
        const last = await send(a, withBob, 'newest activity');
        await signIn(bob);

        const conversations = await list(alice);
        expect(ids(conversations)).toEqual([withBob, group, withCarol]);

        const [first, , third] = conversations;
        const { rows } = await t.db.query<{ username: string; id: string }>('SELECT id, username FROM users WHERE id = ANY($1::bigint[])', [[alice, bob]]);
        const username = (id: string) => rows.find((r) => String(r.id) === id)?.username;
        expect({ ...first, users: [...first.users].sort((x: any, y: any) => Number(x.id) - Number(y.id)) }).toEqual({
          id: withBob,
          createdAt: expect.stringMatching(ISO),
          lastActivityAt: last.createdAt,
          unread: false, // alice wrote the newest message
          unreadCount: 0,
          active: true, // bob is online
          private: false,
          lastMessage: last,
          users: [
            { id: alice, username: username(alice), profilePicture: 'https://img.example/alice.png', lastVisit: null, online: true },
            { id: bob, username: username(bob), profilePicture: null, lastVisit: null, online: true },
          ],
        });
        expect(Date.parse(first.createdAt)).toBeLessThanOrEqual(Date.parse(first.lastActivityAt));
        // No message yet: activity is the creation; carol is offline, so inactive and nothing unread.
        expect(third).toMatchObject({ id: withCarol, lastMessage: null, unread: false, active: false });
        expect(third.lastActivityAt).toBe(third.createdAt);
        expect(third.users.map((u: any) => [u.id, u.online]).sort()).toEqual([[alice, true], [carol, false]].sort());
      });

      it('marks a conversation unread until the member opens it', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        const a = await signIn(alice);
        await send(a, conversationId, 'hello');
        expect((await list(bob))[0]).toMatchObject({ id: conversationId, unread: true, active: true });
        const b = await signIn(bob);
        b.send('OPEN_CONVERSATION', { conversationId });
        await b.next('CONVERSATION_SEEN');
        expect((await list(bob))[0]).toMatchObject({ id: conversationId, unread: false });
        await send(a, conversationId, 'again');
        expect((await list(bob))[0]).toMatchObject({ id: conversationId, unread: true });
      });

      it('shows lastVisit once a member has been online and left', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const conversationId = await start(alice, [bob]);
        const b = await signIn(bob);
        b.close();
        await b.closed;
        // Set once the node has handled the close, which the client's close event does not prove.
        let user: any;
        await waitUntil(async () => (user = (await list(alice))[0].users.find((u: any) => u.id === bob)).lastVisit !== null, "bob's lastVisit", 5000, 100);
        expect(user).toMatchObject({ lastVisit: expect.stringMatching(ISO), online: false });
        expect((await list(alice))[0]).toMatchObject({ id: conversationId, active: false });
      });

      it('returns 10 by default and at most limit', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const created: string[] = [];
        for (let i = 0; i < 12; i++) created.push(await createGroup(t.db, [alice, bob]));
        await sameCreatedAt(created);
        const newestFirst = [...created].sort((x, y) => Number(y) - Number(x));
        expect(ids(await list(alice))).toEqual(newestFirst.slice(0, 10));
        expect(ids(await list(alice, '?limit=3'))).toEqual(newestFirst.slice(0, 3));
        expect(ids(await list(alice, '?limit=100'))).toEqual(newestFirst);
        expect(await list(await createUser(t.db, name('loner')))).toEqual([]);
      });

      it('pages with before = a conversation id, without gaps or repeats on equal activity', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        const tied: string[] = [];
        for (let i = 0; i < 5; i++) tied.push(await createGroup(t.db, [alice, bob]));
        await sameCreatedAt(tied);
        const newest = await start(alice, [bob]);
        const a = await signIn(alice);
        await send(a, tied[0]!, 'bump the oldest');

        const seen: string[] = [];
        let before: string | undefined;
        for (let page = 0; page < 10; page++) {
          const batch = await list(alice, `?limit=2${before === undefined ? '' : `&before=${before}`}`);
          if (batch.length === 0) break;
          expect(batch.length).toBeLessThanOrEqual(2);
          seen.push(...ids(batch));
          before = batch[batch.length - 1].id;
        }
        const rest = tied.slice(1).sort((x, y) => Number(y) - Number(x));
        expect(seen).toEqual([tied[0], newest, ...rest]);
      });

      it('pages with before = an ISO 8601 time: activity strictly older', async () => {
        const alice = await createUser(t.db, name('alice'));
        const bob = await createUser(t.db, name('bob'));
        // Apart, so that `before` one's activity time leaves the older ones only.
        const old = await start(alice, [bob]);
        await sleep(20);
        const middle = await start(alice, [bob]);
        await sleep(20);
        const recent = await start(alice, [bob]);
        const all = await list(alice);
        expect(ids(all)).toEqual([recent, middle, old]);
        const at = (id: string) => all.find((c) => c.id === id).lastActivityAt as string;
        expect(ids(await list(alice, `?before=${encodeURIComponent(at(recent))}`))).toEqual([middle, old]);
        expect(ids(await list(alice, `?before=${encodeURIComponent(at(middle))}&limit=5`))).toEqual([old]);
        expect(ids(await list(alice, `?before=${encodeURIComponent(at(old))}`))).toEqual([]);
        expect(ids(await list(alice, '?before=2999-01-01T00:00:00.000Z'))).toEqual([recent, middle, old]);
      });

      it.each(['?limit=0', '?limit=101', '?limit=abc', '?limit=2.5', '?before=yesterday-ish', '?before='])(
        'answers 400 for %s',
        async (query) => {
          const alice = await createUser(t.db, name('alice'));
          failure(await get(alice, `/massenger${query}`), 400);
        },
      );

      it('answers 401 without a valid token', async () => {
        const res = await t.node.app.inject({ method: 'GET', url: '/massenger' });
        failure(res, 401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        failure(await t.node.app.inject({ method: 'GET', url: '/massenger', headers: { authorization: 'Bearer x.y.z' } }), 401);
        // Before the query is validated: a stranger learns nothing about the API's rules.
        failure(await t.node.app.inject({ method: 'GET', url: '/massenger?limit=0&before=nonsense' }), 401);
      });
    });

  });
}
