/** POST /socket/notifications, the private route for the main API (spec §3), on each backend. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../support/client.js';
import { createUser } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { backends, envelope, failure, name, success } from './support.js';

const URL_ = '/socket/notifications';
const INTERNAL_API_TOKEN = 'internal-token-for-tests-0123456789';

for (const backend of backends) {
  describe(`POST /socket/notifications without INTERNAL_API_TOKEN (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    async function signIn(userId: string): Promise<TestClient> {
      // t.close() closes every client it signed in.
      return (await t.signIn(userId)).client;
    }

    const notify = (payload: unknown, remoteAddress?: string) =>
      t.node.app.inject({ method: 'POST', url: URL_, payload: payload as object, ...(remoteAddress === undefined ? {} : { remoteAddress }) });

    it('sends NOTIFICATION_SENT, the body less users, to every online connection of those users', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const carol = await createUser(t.db, name('carol')); // offline
      const eve = await createUser(t.db, name('eve')); // online, not addressed
      const a1 = await signIn(alice);
      const a2 = await signIn(alice);
      const b = await signIn(bob);
      const e = await signIn(eve);
      const body = { users: [alice, bob, carol], content: 'Dan liked your photo', name: 'Dan', img: 'https://img.example/d.png', extra: { postId: 7 } };
      const data = success(await notify(body));
      expect(data).toEqual({ users: 2 });
      const { users: _users, ...expected } = body;
      for (const client of [a1, a2, b]) {
        const frame = await client.next('NOTIFICATION_SENT');
        expect(frame.data).toEqual(expected);
      }
      // The answer came after the fan-out wrote every copy: the fence brings eve's, if any.
      await e.fence();
      expect(e.all('NOTIFICATION_SENT')).toEqual([]);
      // One notification, one frame per connection, even with a user named twice.
      success(await notify({ users: [bob, bob], content: 'twice' }));
      await b.next('NOTIFICATION_SENT', (d) => d.content === 'twice');
      await b.fence();
      expect(b.all('NOTIFICATION_SENT').filter((f) => f.data.content === 'twice')).toHaveLength(1);
    });

    it('answers {users: 0} when nobody is online, and accepts ids as numbers', async () => {
      const carol = await createUser(t.db, name('carol'));
      expect(success(await notify({ users: [carol], content: 'hi' }))).toEqual({ users: 0 });
      const dave = await createUser(t.db, name('dave'));
      const d = await signIn(dave);
      expect(success(await notify({ users: [Number(dave)], content: 'as a number' }))).toEqual({ users: 1 });
      expect((await d.next('NOTIFICATION_SENT')).data).toEqual({ content: 'as a number' });
    });

    it.each<[string, unknown]>([
      ['an array body', [{ users: ['1'], content: 'x' }]],
      ['no users', { content: 'x' }],
      ['users empty', { users: [], content: 'x' }],
      ['users not an array', { users: '1', content: 'x' }],
      ['a user id that is not an id', { users: ['abc'], content: 'x' }],
      ['user id 0', { users: ['0'], content: 'x' }],
      ['no content', { users: ['1'] }],
      ['empty content', { users: ['1'], content: '' }],
      ['content not a string', { users: ['1'], content: 42 }],
    ])('answers 400 for %s', async (_label, body) => {
      failure(await notify(body), 400);
    });

    it('answers 400 for a body that is not JSON', async () => {
      const res = await t.node.app.inject({ method: 'POST', url: URL_, headers: { 'content-type': 'application/json' }, payload: '{"users":' });
      failure(res, 400);
    });

    it('refuses a caller that is not on the loopback address with 403, delivering nothing', async () => {
      const alice = await createUser(t.db, name('alice'));
      const a = await signIn(alice);
      failure(await notify({ users: [alice], content: 'from afar' }, '10.1.2.3'), 403);
      failure(await notify({ users: [alice], content: 'from afar' }, '::ffff:10.1.2.3'), 403);
      // Refused before the body is looked at.
      failure(await notify({ nonsense: true }, '10.1.2.3'), 403);
      // Loopback in its IPv4, IPv6 and mapped forms is the main API on this machine.
      for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
        expect(success(await notify({ users: [alice], content: `from ${address}` }, address))).toEqual({ users: 1 });
      }
      await a.next('NOTIFICATION_SENT', (d) => d.content === 'from ::ffff:127.0.0.1');
      expect(a.all('NOTIFICATION_SENT').map((f) => f.data.content)).toEqual(['from 127.0.0.1', 'from ::1', 'from ::ffff:127.0.0.1']);
    });
  });

  describe(`POST /socket/notifications with INTERNAL_API_TOKEN (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start({ INTERNAL_API_TOKEN });
    });
    afterAll(async () => {
      await t?.close();
    });

    const notify = (payload: unknown, headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
      t.node.app.inject({ method: 'POST', url: URL_, payload: payload as object, headers, remoteAddress });

    it('answers 401 without the bearer token or with a wrong one, even from loopback', async () => {
      const alice = await createUser(t.db, name('alice'));
      const { client } = await t.signIn(alice);
      const body = { users: [alice], content: 'x' };
      const refused: Record<string, string>[] = [
        {},
        { authorization: `Bearer ${INTERNAL_API_TOKEN}x` },
        { authorization: `Bearer ${INTERNAL_API_TOKEN.slice(0, -1)}` },
        { authorization: INTERNAL_API_TOKEN },
        { authorization: `Basic ${INTERNAL_API_TOKEN}` },
        // A user's JWT is not the main API's token.
        { authorization: `Bearer ${await t.token(alice)}` },
      ];
      for (const headers of refused) {
        const res = await notify(body, headers);
        failure(res, 401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
      // Refused before the body is parsed or validated.
      failure(await notify({ nonsense: true }, {}), 401);
      const badJson = await t.node.app.inject({ method: 'POST', url: URL_, headers: { 'content-type': 'application/json' }, payload: '{"users":' });
      failure(badJson, 401);
      await client.fence();
      expect(client.all('NOTIFICATION_SENT')).toEqual([]);
    });

    it('answers 200 with the token, from any address', async () => {
      const alice = await createUser(t.db, name('alice'));
      const { client } = await t.signIn(alice);
      const headers = { authorization: `Bearer ${INTERNAL_API_TOKEN}` };
      expect(success(await notify({ users: [alice], content: 'one' }, headers))).toEqual({ users: 1 });
      expect(success(await notify({ users: [alice], content: 'two' }, headers, '10.1.2.3'))).toEqual({ users: 1 });
      expect((await client.next('NOTIFICATION_SENT')).data).toEqual({ content: 'one' });
      expect((await client.next('NOTIFICATION_SENT')).data).toEqual({ content: 'two' });
      // Validation still applies to an authorized caller.
      envelope(await notify({ users: [alice] }, headers));
      failure(await notify({ users: [alice] }, headers), 400);
    });
  });
}
