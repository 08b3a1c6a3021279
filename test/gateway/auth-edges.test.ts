/**
 * Edges of sign-in (spec §2.3, §2.4): what counts as a failed AUTHENTICATE, what a refresh may
 * change, and the authentication deadline when the first AUTHENTICATE is slow and then fails.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, postgresOnly, type BackendNode } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { signToken } from '../support/node.js';
import { PG_BASE_URL } from '../support/services.js';
import { nodeForSuite, Clients, clockPast, closedWithin, expectAlive, freshUsers, received, waitFor } from './helpers.js';

for (const backend of await backends()) {
  describe(`gateway sign-in edges (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend);
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    for (const [name, data] of [
      ['no data', undefined],
      ['no token', {}],
      ['an empty token', { token: '' }],
      ['a token that is not a string', { token: 12345 }],
    ] as const) {
      it(`AUTHENTICATE with ${name} is a failed sign-in: ERROR UNAUTHENTICATED, then 4401`, async () => {
        const client = await clients.open();
        client.send('AUTHENTICATE', data as Record<string, unknown> | undefined);
        expect((await closedWithin(client)).code).toBe(4401);
        expect(received(client, 'ERROR').map((f) => [f.data.code, f.data.method])).toEqual([['UNAUTHENTICATED', 'AUTHENTICATE']]);
      });
    }

    it('before sign-in, a method with bad data is still UNAUTHENTICATED, and the connection stays', async () => {
      const client = await clients.open();
      client.send('SEND_MESSAGE', { conversationId: 'nope', content: 5, requestId: 'r1' });
      const error = await waitFor(client, 'ERROR');
      expect(error.data).toMatchObject({ code: 'UNAUTHENTICATED', method: 'SEND_MESSAGE', requestId: 'r1' });
      await expectAlive(client);
    });

    it('a text frame that is not UTF-8 gets ERROR BAD_FRAME and the connection stays', async () => {
      const [me] = await freshUsers(t, 1);
      const { client } = await clients.signIn(me!);
      client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      expect((await waitFor(client, 'ERROR')).data.code).toBe('BAD_FRAME');
      await expectAlive(client);
    });

    it('a refresh with a token that expires sooner does not shorten the sign-in; a failed refresh leaves it as it was', async () => {
      const [me] = await freshUsers(t, 1);
      const conv = await createGroup(t.db, [me!]);
      const { client } = await clients.signIn(me!);
      // 2 s, not 1: exp is a whole second, so a 1 s token may have a few ms left when it is checked.
      client.send('AUTHENTICATE', { token: await signToken(me!, 2) });
      await waitFor(client, 'INIT', () => client.all('INIT').length === 2);
      client.send('AUTHENTICATE', { token: 'not-a-token', requestId: 'bad' });
      expect((await waitFor(client, 'ERROR')).data).toMatchObject({ code: 'UNAUTHENTICATED', method: 'AUTHENTICATE', requestId: 'bad' });
      // Past the 2 s token's exp: the clock has closed a witness whose token expires no sooner.
      await clockPast(clients, me!, 2);
      await expectAlive(client);
      const ack = await client.request('SEND_MESSAGE', { conversationId: conv, content: 'still me' }, 'MESSAGE_SENT');
      expect(ack.data.message.author).toBe(me);
    });
  });
}

for (const backend of await postgresOnly()) {
  describe(`gateway authentication deadline during a slow, failing AUTHENTICATE (${backend.name})`, () => {
    let t: BackendNode;
    let admin: pg.Client;
    const clients = new Clients(() => t);
    beforeAll(async () => {
      t = await backend.start({ AUTH_TIMEOUT_MS: '300', DB_STATEMENT_TIMEOUT_MS: '1000' });
      const url = new URL(PG_BASE_URL);
      url.pathname = `/${t.databaseName}`;
      admin = new pg.Client({ connectionString: url.toString() });
      await admin.connect();
    });
    afterEach(() => clients.closeAll());
    afterAll(async () => {
      await clients.closeAll();
      await admin?.end();
      await t?.close();
    });

    it('closes with 4401 once the INIT that outlived the deadline fails', async () => {
      const [me] = await freshUsers(t, 1);
      await admin.query('BEGIN');
      // INIT reads the user's conversations: held up by this lock until the statement timeout.
      await admin.query('LOCK TABLE users_conversations IN ACCESS EXCLUSIVE MODE');
      try {
        const client = await clients.open();
        client.send('AUTHENTICATE', { token: await signToken(me!) });
        expect((await closedWithin(client, 5000)).code).toBe(4401);
        expect(received(client, 'ERROR').map((f) => f.data.code)).toContain('UNAUTHENTICATED');
        expect(received(client, 'INIT')).toHaveLength(0);
      } finally {
        await admin.query('ROLLBACK');
      }
    });
  });
}
