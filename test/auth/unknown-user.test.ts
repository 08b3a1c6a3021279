/**
 * A valid token for a user id that is not in `users` (README "Tokens"): the verifier does not
 * look users up, so it signs in, but to nothing: an empty INIT, NOT_FOUND for every conversation,
 * and a 400 naming the caller when it tries to start one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../scripts/support/fixtures.js';
import { startNode, type TestNode } from '../support/node.js';

describe('a token for a user that does not exist', () => {
  let t: TestNode;
  const ghost = '9000000000000000001';
  beforeAll(async () => {
    t = await startNode();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('signs in to an empty INIT and reaches no conversation', async () => {
    const alice = await createUser(t.db, 'alice');
    const bob = await createUser(t.db, 'bob');
    const headers = { authorization: `Bearer ${await t.token(alice)}` };
    const started = await t.node.app.inject({ method: 'POST', url: '/massenger/startConversation', headers, payload: { userIds: [bob] } });
    const { conversationId } = started.json().data;

    const { client, init } = await t.signIn(ghost);
    expect(init).toEqual({ userId: ghost, conversations: [], onlineFriends: [] });
    for (const [method, data] of [
      ['SEND_MESSAGE', { conversationId, content: 'let me in' }],
      ['FETCH_MESSAGES', { conversationId }],
      ['OPEN_CONVERSATION', { conversationId }],
    ] as const) {
      // Any direct reply carries the requestId; each of these must be an ERROR.
      const reply = await client.request(method, data, 'ERROR');
      expect(reply.method).toBe('ERROR');
      expect(reply.data.code).toBe('NOT_FOUND');
    }
  });

  it('over HTTP: lists nothing, reads nothing, and cannot start a conversation', async () => {
    const carol = await createUser(t.db, 'carol');
    const headers = { authorization: `Bearer ${await t.token(ghost)}` };
    const list = await t.node.app.inject({ method: 'GET', url: '/massenger', headers });
    expect(list.json()).toEqual({ data: { conversations: [] }, errors: null });
    expect((await t.node.app.inject({ method: 'GET', url: '/massenger/1', headers })).statusCode).toBe(404);
    const start = await t.node.app.inject({ method: 'POST', url: '/massenger/startConversation', headers, payload: { userIds: [carol] } });
    expect(start.statusCode).toBe(400);
    expect(start.json()).toEqual({ data: null, errors: `unknown users: ${ghost}` });
  });
});
