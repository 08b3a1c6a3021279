/**
 * Sign-in over the wire (spec §2.1 AUTHENTICATE, §2.2 INIT, §2.3 token lifetime, §2.4 4401):
 * what INIT holds, which tokens are refused, the authentication deadline, re-authentication and
 * expiry. One node per backend; every test makes its own users.
 */
import { createSigner } from 'fast-jwt';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../scripts/support/wait.js';
import { backends, type BackendNode } from '../support/backends.js';
import { befriend, createGroup } from '../../scripts/support/fixtures.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { clockPast, closedWithin, expectAlive, freshUsers, nodeForSuite, presenceFence, received, receivedAtLeast, waitFor } from './helpers.js';

const AUTH_TIMEOUT_MS = 1000;
/** Signs `claims` with TEST_SECRET, expiring in an hour. */
const signWith = (algorithm: 'HS256' | 'HS512', claims: Record<string, string>) => createSigner({ key: TEST_SECRET, algorithm, expiresIn: '1h' })(claims);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const backend of await backends()) {
  describe(`gateway auth (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend, { AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) });
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    /** Sends one message over the wire and waits for its ack; returns the message. */
    async function say(client: Awaited<ReturnType<typeof clients.online>>, conversationId: string, content: string) {
      const ack = await client.request('SEND_MESSAGE', { conversationId, content }, 'MESSAGE_SENT');
      expect(ack.method).toBe('MESSAGE_SENT');
      return ack.data.message as Record<string, any>;
    }

    it('INIT comes first and lists the top 10 conversations by latest activity, with unread, active, lastMessage and members', async () => {
      const [me, friendOn, friendOff, stranger, filler] = await freshUsers(t, 5);
      const fillers: string[] = [];
      for (let i = 0; i < 9; i++) fillers.push(await createGroup(t.db, [me!, filler!]));
      const withFriendOn = await befriend(t.db, me!, friendOn!);
      const withFriendOff = await befriend(t.db, friendOff!, me!); // stored the other way round
      const withStranger = await createGroup(t.db, [me!, stranger!]);

      const friend = await clients.online(friendOn!);
      const strangerClient = await clients.online(stranger!);
      const fromFriend = await say(friend, withFriendOn, 'hello from a friend');
      const fromStranger = await say(strangerClient, withStranger, 'hello from a stranger');

      const { client, init } = await clients.signIn(me!);
      expect(client.frames[0]!.method).toBe('INIT');
      expect(init.userId).toBe(me);
      expect(init.missedMessages).toBeUndefined();
      expect(init.recovered).toBeUndefined();
      // Latest activity first: the two with messages, then the empty ones by creation, newest first.
      expect(init.conversations.map((c: any) => c.id)).toEqual([
        withStranger,
        withFriendOn,
        withFriendOff,
        ...fillers.slice(2).reverse(),
      ]);

      const byId = new Map<string, any>(init.conversations.map((c: any) => [c.id, c]));
      const s = byId.get(withStranger);
      expect(s).toMatchObject({ unread: true, active: true, lastMessage: fromStranger, lastActivityAt: fromStranger.createdAt });
      expect(s.createdAt).toMatch(ISO);
      expect(s.users).toEqual([
        { id: me, username: expect.any(String), profilePicture: null, lastVisit: null, online: true },
        { id: stranger, username: expect.any(String), profilePicture: null, lastVisit: null, online: true },
      ]);
      expect(byId.get(withFriendOn)).toMatchObject({ unread: true, active: true, lastMessage: fromFriend });
      const off = byId.get(withFriendOff);
      expect(off).toMatchObject({ unread: false, active: false, lastMessage: null, lastActivityAt: off.createdAt });
      expect(off.users.map((u: any) => [u.id, u.online])).toEqual(
        [
          [me, true],
          [friendOff, false],
        ].sort((a, b) => Number(a[0]) - Number(b[0])),
      );
      // Friends online now, with the private conversation; a stranger online is not a friend.
      expect(init.onlineFriends).toEqual([{ id: friendOn, conversationId: withFriendOn }]);
    });

    it('my own message leaves the conversation read; after OPEN_CONVERSATION it is read in the next INIT', async () => {
      const [me, other] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [me!, other!]);
      const mine = await clients.online(me!);
      await say(mine, conv, 'mine');
      expect((await clients.signIn(me!)).init.conversations[0]).toMatchObject({ id: conv, unread: false });
      await say(await clients.online(other!), conv, 'theirs');
      expect((await clients.signIn(me!)).init.conversations[0]).toMatchObject({ id: conv, unread: true });
      mine.send('OPEN_CONVERSATION', { conversationId: conv });
      await waitFor(mine, 'CONVERSATION_SEEN', (d) => d.userId === me);
      expect((await clients.signIn(me!)).init.conversations[0]).toMatchObject({ id: conv, unread: false });
    });

    it('missedMessages: the messages after lastMessageId in my conversations, oldest first, recovered', async () => {
      const [me, other, outsider] = await freshUsers(t, 3);
      const a = await createGroup(t.db, [me!, other!]);
      const b = await createGroup(t.db, [me!, outsider!]);
      const notMine = await createGroup(t.db, [other!, outsider!]);
      const o = await clients.online(other!);
      const x = await clients.online(outsider!);
      const seenLast = await say(o, a, 'already seen');
      const m1 = await say(o, a, 'missed 1');
      await say(x, notMine, 'not for me');
      const m2 = await say(x, b, 'missed 2');
      const m3 = await say(o, a, 'missed 3');

      const asString = await clients.signIn(me!, { lastMessageId: seenLast.id });
      expect(asString.init.missedMessages).toEqual([m1, m2, m3]);
      expect(asString.init.recovered).toBe(true);
      // Ids may be sent as JSON numbers.
      const asNumber = await clients.signIn(me!, { lastMessageId: Number(m2.id) });
      expect(asNumber.init.missedMessages).toEqual([m3]);
      expect(asNumber.init.recovered).toBe(true);
      const upToDate = await clients.signIn(me!, { lastMessageId: m3.id });
      expect(upToDate.init.missedMessages).toEqual([]);
      expect(upToDate.init.recovered).toBe(true);
    });

    it('missedMessages: more than 1000 missed gives the oldest 1000 and recovered false; exactly 1000 is recovered', async () => {
      const [me, other] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [me!, other!]);
      const { rows } = await t.db.query<{ id: string }>(
        `INSERT INTO messages (conversation_id, author_id, content)
         SELECT $1::bigint, $2::bigint, 'bulk ' || g FROM generate_series(1, 1001) AS g RETURNING id`,
        [conv, other],
      );
      const ids = rows.map((r) => String(r.id)).sort((x, y) => Number(x) - Number(y));
      expect(ids).toHaveLength(1001);

      const all = await clients.signIn(me!, { lastMessageId: '0' });
      expect(all.init.recovered).toBe(false);
      expect(all.init.missedMessages.map((m: any) => m.id)).toEqual(ids.slice(0, 1000));
      expect(all.init.missedMessages[0]).toMatchObject({ conversationId: conv, author: other, content: 'bulk 1', clientMessageId: null });

      const exactly = await clients.signIn(me!, { lastMessageId: ids[0] });
      expect(exactly.init.recovered).toBe(true);
      expect(exactly.init.missedMessages.map((m: any) => m.id)).toEqual(ids.slice(1));
    });

    it('signing in while messages flow: INIT still comes first, and missedMessages plus live messages leave no gap', async () => {
      const [me, other] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [me!, other!]);
      const o = await clients.online(other!);
      const start = await say(o, conv, 'start');
      const total = 40;
      for (let i = 0; i < total; i++) o.send('SEND_MESSAGE', { conversationId: conv, content: `flow ${i}`, clientMessageId: `flow-${i}` });
      const devices = await Promise.all([0, 1, 2].map(() => clients.signIn(me!, { lastMessageId: start.id })));
      await waitUntil(() => received(o, 'MESSAGE_SENT').length >= total + 1, 'every ack');
      const stored = received(o, 'MESSAGE_SENT').slice(1).map((f) => f.data.message.id as string);
      for (const { client, init } of devices) {
        expect(client.frames[0]!.method).toBe('INIT');
        // Every ack is in, and each live copy was written with its ack: the fence brings the rest.
        await client.fence();
        const seen = new Set<string>([...init.missedMessages.map((m: any) => m.id), ...received(client, 'MESSAGE_SENT').map((f) => f.data.message.id)]);
        expect([...seen].sort((x, y) => Number(x) - Number(y))).toEqual(stored);
        const live = received(client, 'MESSAGE_SENT').map((f) => Number(f.data.message.id));
        expect(live).toEqual([...live].sort((x, y) => x - y));
        // And no message twice: what INIT's missedMessages holds is not sent again live.
        const both = [...init.missedMessages.map((m: any) => m.id), ...live.map(String)];
        expect(both.length).toBe(new Set(both).size);
      }
    });

    const badTokens: Array<[string, () => Promise<string>]> = [
      ['a bad signature', () => signToken('1', 3600, 'another-secret-another-secret-0123456789')],
      ['an expired token', () => signToken('1', -60)],
      ['no sub claim', async () => signWith('HS256', {})],
      ['a sub that is not a user id', async () => signWith('HS256', { sub: 'alice' })],
      ['another algorithm (HS512)', async () => signWith('HS512', { sub: '1' })],
      [
        'alg none',
        async () => {
          const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
          return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: '1', exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
        },
      ],
      ['not a JWT', async () => 'not-a-jwt'],
    ];
    for (const [name, make] of badTokens) {
      it(`rejects ${name}: ERROR UNAUTHENTICATED, then close 4401`, async () => {
        const client = await clients.open();
        client.send('AUTHENTICATE', { token: await make(), requestId: 'auth-1' });
        const { code } = await closedWithin(client);
        expect(code).toBe(4401);
        expect(client.frames).toEqual([
          { method: 'ERROR', data: expect.objectContaining({ code: 'UNAUTHENTICATED', method: 'AUTHENTICATE', requestId: 'auth-1' }) },
        ]);
      });
    }

    it('closes with 4401 when no AUTHENTICATE comes within AUTH_TIMEOUT_MS, and not a signed-in connection', async () => {
      const [me] = await freshUsers(t, 1);
      const signedIn = await clients.online(me!);
      const started = Date.now();
      const idle = await clients.open('/socket');
      const { code } = await closedWithin(idle, AUTH_TIMEOUT_MS + 3000);
      expect(code).toBe(4401);
      expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
      expect(received(idle, 'ERROR').map((f) => f.data.code)).toEqual(['UNAUTHENTICATED']);
      // The signed-in connection opened first, so its sign-in deadline, had it stayed, was due
      // before idle's, and one clock fires them in order (transport/deadlines.ts).
      await expectAlive(signedIn);
    });

    it('before AUTHENTICATE: PING is answered, every other method gets ERROR UNAUTHENTICATED and the connection stays', async () => {
      const [me] = await freshUsers(t, 1);
      const client = await clients.open();
      const pong = await client.request('PING', {}, 'PONG');
      expect(pong.method).toBe('PONG');
      for (const [method, data] of [
        ['SEND_MESSAGE', { conversationId: '1', content: 'hi', clientMessageId: 'early' }],
        ['OPEN_CONVERSATION', { conversationId: '1' }],
        ['TYPING', { conversationId: '1' }],
        ['FETCH_MESSAGES', { conversationId: '1' }],
      ] as const) {
        const reply = await client.request(method, data, 'NEVER');
        expect(reply.data).toMatchObject({ code: 'UNAUTHENTICATED', method });
      }
      // Still usable: it can sign in now.
      client.send('AUTHENTICATE', { token: await t.token(me!) });
      expect((await waitFor(client, 'INIT')).data.userId).toBe(me);
    });

    it('AUTHENTICATE again for the same user answers a new INIT and keeps the session; friends hear nothing', async () => {
      const [me, friend] = await freshUsers(t, 2);
      const conv = await befriend(t.db, me!, friend!);
      const f = await clients.online(friend!);
      const { client } = await clients.signIn(me!);
      await waitFor(f, 'USER_JOINED', (d) => d.userId === me);
      client.send('AUTHENTICATE', { token: await signToken(me!, 7200), lastMessageId: '0' });
      await receivedAtLeast(client, 'INIT', 2);
      const second = received(client, 'INIT')[1]!.data;
      expect(second.userId).toBe(me);
      expect(second.conversations.map((c: any) => c.id)).toEqual([conv]);
      expect(second.missedMessages).toEqual([]);
      await say(client, conv, 'still signed in');
      await presenceFence(clients, me!, [f]);
      expect(received(f, 'USER_JOINED', (d) => d.userId === me)).toHaveLength(1);
      expect(received(f, 'USER_LEFT')).toHaveLength(0);
    });

    it("another user's token gets ERROR FORBIDDEN and changes nothing", async () => {
      const [me, other] = await freshUsers(t, 2);
      const mine = await createGroup(t.db, [me!]);
      const theirs = await createGroup(t.db, [other!]);
      const { client } = await clients.signIn(me!);
      const reply = await client.request('AUTHENTICATE', { token: await t.token(other!) }, 'INIT');
      expect(reply.method).toBe('ERROR');
      expect(reply.data).toMatchObject({ code: 'FORBIDDEN', method: 'AUTHENTICATE' });
      await client.fence();
      expect(received(client, 'INIT')).toHaveLength(1);
      // Still signed in as me: my conversation works, theirs is not found.
      expect((await say(client, mine, 'me still')).author).toBe(me);
      const denied = await client.request('FETCH_MESSAGES', { conversationId: theirs }, 'MESSAGES');
      expect(denied.data.code).toBe('NOT_FOUND');
    });

    it("a sign-in ends at the token's exp (ERROR UNAUTHENTICATED, close 4401) unless refreshed before it", async () => {
      const [expiring, refreshed] = await freshUsers(t, 2);
      const a = await clients.open();
      const b = await clients.open();
      a.send('AUTHENTICATE', { token: await signToken(expiring!, 2) });
      b.send('AUTHENTICATE', { token: await signToken(refreshed!, 2) });
      await waitFor(a, 'INIT');
      await waitFor(b, 'INIT');
      b.send('AUTHENTICATE', { token: await signToken(refreshed!, 3600) });
      await receivedAtLeast(b, 'INIT', 2);

      const { code } = await closedWithin(a, 4000);
      expect(code).toBe(4401);
      expect(received(a, 'ERROR').map((f) => f.data.code)).toEqual(['UNAUTHENTICATED']);
      // Past b's first exp too: signed a moment after a's, it may be a second later.
      await clockPast(clients, refreshed!, 2);
      await expectAlive(b);
      expect(received(b, 'ERROR')).toHaveLength(0);
    });

    it('a token whose exp has just passed is refused: ERROR UNAUTHENTICATED and 4401', async () => {
      const [me] = await freshUsers(t, 1);
      const client = await clients.open();
      client.send('AUTHENTICATE', { token: await signToken(me!, -2) });
      const { code } = await closedWithin(client);
      expect(code).toBe(4401);
      expect(received(client, 'ERROR').map((f) => f.data.code)).toEqual(['UNAUTHENTICATED']);
    });

    it('after sign-in a token field inside other methods is ignored', async () => {
      const [me, other] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [me!, other!]);
      const { client } = await clients.signIn(me!);
      const foreign = await t.token(other!);
      const sent = await client.request('SEND_MESSAGE', { conversationId: conv, content: 'x', token: 'garbage' }, 'MESSAGE_SENT');
      expect(sent.data.message.author).toBe(me);
      const again = await client.request('SEND_MESSAGE', { conversationId: conv, content: 'y', token: foreign }, 'MESSAGE_SENT');
      expect(again.data.message.author).toBe(me);
      expect((await client.request('PING', { token: 'garbage' }, 'PONG')).method).toBe('PONG');
      expect((await client.request('FETCH_MESSAGES', { conversationId: conv, token: 'garbage' }, 'MESSAGES')).method).toBe('MESSAGES');
      expect(received(client, 'ERROR')).toHaveLength(0);
    });
  });
}
