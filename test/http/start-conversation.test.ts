/** POST /massenger/startConversation (spec §3) on a real node, on each backend. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../scripts/support/fixtures.js';
import { signToken, type TestNode } from '../support/node.js';
import { auth, backends, envelope, failure, name, success } from './support.js';

const URL_ = '/massenger/startConversation';

for (const backend of backends) {
  describe(`POST /massenger/startConversation (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    const start = async (callerId: string, body: unknown) =>
      t.node.app.inject({ method: 'POST', url: URL_, headers: await auth(t, callerId), payload: body as object });

    async function members(conversationId: string): Promise<string[]> {
      const { rows } = await t.db.query<{ user_id: string }>(
        'SELECT user_id FROM users_conversations WHERE conversation_id = $1 ORDER BY user_id',
        [conversationId],
      );
      return rows.map((r) => String(r.user_id)).sort();
    }

    async function manyUsers(n: number): Promise<string[]> {
      const prefix = name('bulk');
      const { rows } = await t.db.query<{ id: string }>(
        "INSERT INTO users (username) SELECT $1 || '-' || g FROM generate_series(1, $2::int) g RETURNING id",
        [prefix, n],
      );
      return rows.map((r) => String(r.id));
    }

    async function conversationCount(userId: string): Promise<number> {
      const { rows } = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM users_conversations WHERE user_id = $1', [userId]);
      return Number(rows[0]?.n);
    }

    it('answers 200 {conversationId} and always adds the caller', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const carol = await createUser(t.db, name('carol'));
      const data = success(await start(alice, { userIds: [bob, carol] }));
      expect(Object.keys(data)).toEqual(['conversationId']);
      expect(data.conversationId).toMatch(/^[1-9][0-9]*$/);
      expect(await members(data.conversationId)).toEqual([alice, bob, carol].sort());
    });

    it('accepts the caller in userIds and repeated ids, storing each member once', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const { conversationId } = success(await start(alice, { userIds: [alice, bob, bob] }));
      expect(await members(conversationId)).toEqual([alice, bob].sort());
    });

    it('creates a new conversation every time, even for the same members', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const first = success(await start(alice, { userIds: [bob] })).conversationId;
      const second = success(await start(alice, { userIds: [bob] })).conversationId;
      expect(second).not.toBe(first);
    });

    it('accepts 255 other users (256 members) and refuses 256 others', async () => {
      const caller = await createUser(t.db, name('caller'));
      const others = await manyUsers(256);
      const ok = success(await start(caller, { userIds: others.slice(0, 255) }));
      expect(await members(ok.conversationId)).toHaveLength(256);
      // The caller may be listed too: 255 others plus the caller is still fine.
      const withCaller = success(await start(caller, { userIds: [caller, ...others.slice(1, 256)] }));
      expect(await members(withCaller.conversationId)).toHaveLength(256);
      const before = await conversationCount(caller);
      expect(failure(await start(caller, { userIds: others }), 400)).toMatch(/userIds/);
      expect(failure(await start(caller, { userIds: [caller, ...others] }), 400)).toMatch(/userIds/);
      expect(await conversationCount(caller)).toBe(before);
    });

    it('answers 400 naming unknown users, and creates nothing', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const { rows } = await t.db.query<{ id: string }>('SELECT coalesce(max(id), 0) + 1000 AS id FROM users');
      const ghost = String(rows[0]?.id);
      const message = failure(await start(alice, { userIds: [bob, ghost] }), 400);
      // Only the unknown one is named.
      expect(message.match(/[0-9]+/g)).toEqual([ghost]);
      expect(await conversationCount(alice)).toBe(0);
      expect(await conversationCount(bob)).toBe(0);
    });

    it.each<[string, unknown]>([
      ['an empty object', {}],
      ['userIds not an array', { userIds: '2' }],
      ['userIds empty', { userIds: [] }],
      ['an id that is not decimal', { userIds: ['abc'] }],
      ['id 0', { userIds: ['0'] }],
      ['a negative id', { userIds: ['-3'] }],
      ['an id past bigint', { userIds: ['9223372036854775808'] }],
      ['an object as id', { userIds: [{ id: '2' }] }],
      ['a null', { userIds: null }],
      ['an array body', [['2']]],
    ])('answers 400 for %s', async (_label, body) => {
      const alice = await createUser(t.db, name('alice'));
      failure(await start(alice, body), 400);
      expect(await conversationCount(alice)).toBe(0);
    });

    it('answers 400 when the caller is the only user named', async () => {
      const alice = await createUser(t.db, name('alice'));
      expect(failure(await start(alice, { userIds: [alice] }), 400)).toMatch(/userIds/);
      expect(await conversationCount(alice)).toBe(0);
    });

    it('answers 400 for a body that is not JSON, or no body', async () => {
      const alice = await createUser(t.db, name('alice'));
      const headers = { ...(await auth(t, alice)), 'content-type': 'application/json' };
      failure(await t.node.app.inject({ method: 'POST', url: URL_, headers, payload: '{"userIds": [' }), 400);
      const none = await t.node.app.inject({ method: 'POST', url: URL_, headers: await auth(t, alice) });
      failure(none, 400);
    });

    it('answers 401 with a Bearer challenge without a valid token, and creates nothing', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const payload = { userIds: [bob] };
      const tries = [
        {},
        { authorization: 'Bearer' },
        { authorization: 'Basic dXNlcjpwYXNz' },
        { authorization: 'Bearer not-a-jwt' },
        { authorization: `Bearer ${await signToken(alice, 3600, 'another-secret-another-secret-another-secret')}` },
        { authorization: `Bearer ${await signToken(alice, -60)}` },
      ];
      for (const headers of tries) {
        const res = await t.node.app.inject({ method: 'POST', url: URL_, headers, payload });
        failure(res, 401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
      expect(await conversationCount(bob)).toBe(0);
    });

    it('answers 401 without a valid token whatever the body, before validating it', async () => {
      const bad = [{}, { userIds: 'x' }, { userIds: [] }];
      for (const payload of bad) failure(await t.node.app.inject({ method: 'POST', url: URL_, payload }), 401);
      const res = await t.node.app.inject({
        method: 'POST',
        url: URL_,
        headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
        payload: '{"userIds": [',
      });
      failure(res, 401);
    });

    it('sends INVITATION_SENT to every connection of each online invitee, not to the caller', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const carol = await createUser(t.db, name('carol'));
      const dave = await createUser(t.db, name('dave')); // offline: nothing to deliver, no error
      const a = await t.signIn(alice);
      const b1 = await t.signIn(bob);
      const b2 = await t.signIn(bob);
      const c = await t.signIn(carol);
      const { conversationId } = success(await start(alice, { userIds: [bob, carol, dave] }));
      for (const client of [b1.client, b2.client, c.client]) {
        const invitation = await client.next('INVITATION_SENT');
        expect(invitation.data).toEqual({ conversationId });
      }
      // The answer came after the fan-out wrote every copy: the fence brings the caller's, if any.
      await a.client.fence();
      expect(a.client.all('INVITATION_SENT')).toEqual([]);
      for (const client of [a.client, b1.client, b2.client, c.client]) client.close();
    });

    it('answers every request, refused or not, in the envelope', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      envelope(await start(alice, { userIds: [bob] }));
      envelope(await start(alice, { userIds: 'x' }));
      envelope(await t.node.app.inject({ method: 'POST', url: URL_, payload: { userIds: [bob] } }));
    });
  });
}
