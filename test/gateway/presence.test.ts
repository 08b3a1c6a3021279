/**
 * Presence over the wire (spec §2.3): USER_JOINED on a user's first connection, to online friends
 * only; USER_LEFT within 5 s of the last one closing, with users.last_visit set; INVITATION_SENT
 * when the main API's client starts a conversation (spec §3). One node per backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { befriend } from '../../scripts/support/fixtures.js';
import { closedWithin, closesHandled, expectNone, freshUsers, nodeForSuite, presenceFence, received, receivedAtLeast, waitFor } from './helpers.js';

/** Spec §2.3: USER_LEFT within 5 seconds of the last connection closing. */
const USER_LEFT_WITHIN_MS = 5000;

for (const backend of await backends()) {
  describe(`gateway presence (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend);
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    async function lastVisit(userId: string): Promise<Date | null> {
      const { rows } = await t.db.query<{ last_visit: Date | null }>('SELECT last_visit FROM users WHERE id = $1', [userId]);
      return rows[0]!.last_visit;
    }

    it('USER_JOINED goes to every connection of online friends on the first connection only, never to non-friends', async () => {
      const [me, friend, reverseFriend, stranger] = await freshUsers(t, 4);
      const conv = await befriend(t.db, me!, friend!);
      const reverseConv = await befriend(t.db, reverseFriend!, me!); // the pair stored the other way round
      const f1 = await clients.online(friend!);
      const f2 = await clients.online(friend!);
      const r1 = await clients.online(reverseFriend!);
      const s1 = await clients.online(stranger!);

      const { init } = await clients.signIn(me!);
      expect(init.onlineFriends).toEqual(
        [
          { id: friend, conversationId: conv },
          { id: reverseFriend, conversationId: reverseConv },
        ].sort((a, b) => Number(a.id) - Number(b.id)),
      );
      for (const c of [f1, f2]) expect((await waitFor(c, 'USER_JOINED')).data).toEqual({ id: me, userId: me, conversationId: conv });
      expect((await waitFor(r1, 'USER_JOINED')).data).toEqual({ id: me, userId: me, conversationId: reverseConv });

      await clients.online(me!); // a second device
      // A third proves that whatever the second one's sign-in told has arrived.
      await presenceFence(clients, me!, [s1, f1, f2, r1]);
      expect(received(s1, 'USER_JOINED')).toEqual([]);
      for (const c of [f1, f2, r1]) expect(received(c, 'USER_JOINED')).toHaveLength(1);
    });

    it('USER_LEFT goes to online friends only after the last connection closes, within 5 s, and last_visit is set then', async () => {
      const [me, friend, stranger] = await freshUsers(t, 3);
      await befriend(t.db, friend!, me!);
      const f = await clients.online(friend!);
      const s = await clients.online(stranger!);
      const phone = await clients.online(me!);
      const laptop = await clients.online(me!);
      await waitFor(f, 'USER_JOINED', (d) => d.userId === me);
      expect(await lastVisit(me!)).toBeNull();

      phone.close();
      await closesHandled(t, 3); // f, s and the laptop
      const tablet = await presenceFence(clients, me!, [f]);
      expect(received(f, 'USER_LEFT')).toHaveLength(0);
      expect(await lastVisit(me!)).toBeNull();

      const before = Date.now();
      tablet.close();
      laptop.close();
      const left = await waitFor(f, 'USER_LEFT', () => true, USER_LEFT_WITHIN_MS);
      expect(left.data).toEqual({ userId: me });
      expect(Date.now() - before).toBeLessThan(USER_LEFT_WITHIN_MS);
      const visited = await lastVisit(me!);
      expect(visited).toBeInstanceOf(Date);
      expect(Math.abs(visited!.getTime() - Date.now())).toBeLessThan(10_000);
      await expectNone(s, 'USER_LEFT');

      // Signing in again is a new first connection: friends hear USER_JOINED again, and INIT shows lastVisit.
      const { init } = await clients.signIn(friend!);
      const shared = init.conversations[0];
      expect(shared.users.find((u: any) => u.id === me)).toMatchObject({ online: false, lastVisit: visited!.toISOString() });
      expect(shared.active).toBe(false);
      await clients.online(me!);
      await receivedAtLeast(f, 'USER_JOINED', 2, (d) => d.userId === me);
      await presenceFence(clients, me!, [f]);
      expect(received(f, 'USER_JOINED', (d) => d.userId === me)).toHaveLength(2);
    });

    it('a connection that never authenticated, or failed to, changes nobody\u2019s presence', async () => {
      const [me, friend] = await freshUsers(t, 2);
      await befriend(t.db, me!, friend!);
      const f = await clients.online(friend!);
      const anonymous = await clients.open();
      anonymous.send('AUTHENTICATE', { token: 'bad' });
      await closedWithin(anonymous);
      await closesHandled(t, 1); // f alone
      await expectNone(f, 'USER_JOINED');
      expect(received(f, 'USER_LEFT')).toHaveLength(0);
    });

    it('POST /massenger/startConversation sends INVITATION_SENT to every connection of each online invitee, not the caller', async () => {
      const [me, b, c, offline] = await freshUsers(t, 4);
      const mine = await clients.online(me!);
      const b1 = await clients.online(b!);
      const b2 = await clients.online(b!);
      const c1 = await clients.online(c!);
      const res = await fetch(`${t.http}/massenger/startConversation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.token(me!)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userIds: [b, c, offline] }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { conversationId: string }; errors: null };
      expect(body).toEqual({ data: { conversationId: expect.stringMatching(/^[0-9]+$/) }, errors: null });
      const conversationId = body.data.conversationId;
      for (const client of [b1, b2, c1]) expect((await waitFor(client, 'INVITATION_SENT')).data).toEqual({ conversationId });
      await expectNone(mine, 'INVITATION_SENT');

      // The new conversation works at once, and the offline invitee finds it in INIT.
      const ack = await b1.request('SEND_MESSAGE', { conversationId, content: 'thanks for the invite' }, 'MESSAGE_SENT');
      expect(ack.method).toBe('MESSAGE_SENT');
      for (const client of [mine, c1]) await waitFor(client, 'MESSAGE_SENT', (d) => d.message.id === ack.data.message.id);
      const { init } = await clients.signIn(offline!);
      expect(init.conversations.map((x: any) => x.id)).toEqual([conversationId]);
      expect(init.conversations[0].users.map((u: any) => u.id)).toEqual([me, b, c, offline]);
    });
  });
}
