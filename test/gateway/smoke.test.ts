import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { befriend, createUser } from '../../scripts/support/fixtures.js';
import { startNode, type TestNode } from '../support/node.js';

describe('gateway smoke (PGlite)', () => {
  let t: TestNode;
  beforeEach(async () => {
    t = await startNode();
  });
  afterEach(async () => {
    await t.close();
  });

  it('two friends sign in, see each other online and chat', async () => {
    const alice = await createUser(t.db, 'alice');
    const bob = await createUser(t.db, 'bob');
    const conv = await befriend(t.db, alice, bob);
    const a = await t.signIn(alice);
    expect(a.init.userId).toBe(alice);
    expect(a.init.conversations).toHaveLength(1);
    const b = await t.signIn(bob);
    expect(b.init.onlineFriends).toEqual([{ id: alice, conversationId: conv }]);
    const joined = await a.client.next('USER_JOINED');
    expect(joined.data).toEqual({ id: bob, userId: bob, conversationId: conv });

    a.client.send('SEND_MESSAGE', { conversationId: conv, content: 'hi bob', requestId: 'q1', clientMessageId: 'c1' });
    const ack = await a.client.next('MESSAGE_SENT');
    expect(ack.data.requestId).toBe('q1');
    expect(ack.data.message).toMatchObject({ conversationId: conv, author: alice, content: 'hi bob', clientMessageId: 'c1' });
    const got = await b.client.next('MESSAGE_SENT');
    expect(got.data.requestId).toBeUndefined();
    expect(got.data.message).toEqual(ack.data.message);

    b.client.close();
    const left = await a.client.next('USER_LEFT');
    expect(left.data).toEqual({ userId: bob });
  });
});
