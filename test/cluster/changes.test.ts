/**
 * Issue 8 across nodes (three `node dist/src/main.js` processes on one PostgreSQL and one Redis):
 * an edit or delete made on one node reaches members on the others after the message's
 * MESSAGE_SENT; membership changes reach every connection on every node; a leave on one node
 * silences the user's connections on another at once. What must not arrive is fenced by a later
 * message from the same node, which Redis delivers to each node channel in publish order.
 */
import { describe, expect, it } from 'vitest';
import type { TestClient } from '../support/client.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { signToken } from '../support/node.js';
import { allGet, clusterAvailable, framesOf, tag, useCluster } from './helpers.js';

describe.runIf(clusterAvailable)('cluster: edits, deletes and membership changes cross nodes', () => {
  const cluster = useCluster();

  const users = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => createUser(cluster().db, tag(`u${i}`))));

  async function send(client: TestClient, conversationId: string, content: string) {
    const reply = await client.request('SEND_MESSAGE', { conversationId, content }, 'MESSAGE_SENT');
    expect(reply.method, JSON.stringify(reply.data)).toBe('MESSAGE_SENT');
    return reply.data.message;
  }

  async function http(i: number, method: 'POST' | 'DELETE', path: string, callerId: string, body?: unknown) {
    const res = await fetch(`${cluster().nodes[i]!.http}${path}`, {
      method,
      headers: { authorization: `Bearer ${await signToken(callerId)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.json() };
  }

  /** The methods a connection received about these message ids, in arrival order. */
  const history = (client: TestClient, ids: Set<string>) =>
    client.frames.filter((f) => f.data?.message !== undefined && ids.has(f.data.message.id)).map((f) => `${f.method}:${f.data.message.id}`);

  it('edits and deletes made on node 1 reach node 2 and node 3 after the MESSAGE_SENT of their message', async () => {
    const [a, b] = await users(2);
    const conv = await createGroup(cluster().db, [a!, b!]);
    const a1 = (await cluster().signIn(0, a!)).client;
    const b2 = (await cluster().signIn(1, b!)).client;
    const b3 = (await cluster().signIn(2, b!)).client;
    const ids = new Set<string>();
    // Each change is sent the moment the author learns the id: the closest a client can follow.
    for (let i = 0; i < 20; i++) {
      const m = await send(a1, conv, tag(`m${i}`));
      ids.add(m.id);
      if (i % 2 === 0) a1.send('EDIT_MESSAGE', { messageId: m.id, content: `edited ${i}` });
      else a1.send('DELETE_MESSAGE', { messageId: m.id });
    }
    const isLast = (d: Record<string, any>) => d.message.content === '' && [...ids].at(-1) === d.message.id;
    await allGet([b2, b3], 'MESSAGE_DELETED', isLast, 10_000);
    for (const c of [b2, b3]) {
      const expected = [...ids].flatMap((id, i) => [`MESSAGE_SENT:${id}`, `${i % 2 === 0 ? 'MESSAGE_EDITED' : 'MESSAGE_DELETED'}:${id}`]);
      expect(history(c, ids)).toEqual(expected);
    }
  });

  it('deleting twice on node 2 answers that request alone: no other node hears of it again', async () => {
    const [a, b] = await users(2);
    const conv = await createGroup(cluster().db, [a!, b!]);
    const fenceConv = await createGroup(cluster().db, [a!, b!]);
    const a1 = (await cluster().signIn(0, a!)).client;
    const a2 = (await cluster().signIn(1, a!)).client;
    const b3 = (await cluster().signIn(2, b!)).client;
    const m = await send(a1, conv, tag('doomed'));
    const first = await a2.request('DELETE_MESSAGE', { messageId: m.id }, 'MESSAGE_DELETED');
    await allGet([a1, b3], 'MESSAGE_DELETED', (d) => d.message.id === m.id);
    const again = await a2.request('DELETE_MESSAGE', { messageId: m.id }, 'MESSAGE_DELETED');
    expect(again.data.message).toEqual(first.data.message);
    const fence = await send(a2, fenceConv, tag('fence'));
    await allGet([a1, b3], 'MESSAGE_SENT', (d) => d.message.id === fence.id);
    expect(framesOf(a1, 'MESSAGE_DELETED')).toHaveLength(1);
    expect(framesOf(b3, 'MESSAGE_DELETED')).toHaveLength(1);
  });

  it('adding on node 3: every connection on every node hears MEMBERS_CHANGED, the added are invited and get the next message', async () => {
    const [a, b, c] = await users(3);
    const conv = await createGroup(cluster().db, [a!, b!]);
    const a1 = (await cluster().signIn(0, a!)).client;
    const b2 = (await cluster().signIn(1, b!)).client;
    const c1 = (await cluster().signIn(0, c!)).client;
    const c2 = (await cluster().signIn(1, c!)).client;
    const res = await http(2, 'POST', `/massenger/${conv}/members`, a!, { userIds: [c] });
    expect(res).toEqual({ status: 200, body: { data: { conversationId: conv, added: [c] }, errors: null } });
    await allGet([a1, b2, c1, c2], 'MEMBERS_CHANGED', (d) => d.conversationId === conv && d.added[0] === c && d.by === a);
    await allGet([c1, c2], 'INVITATION_SENT', (d) => d.conversationId === conv);
    // Sent from node 2 right after the answer: node 2's cached member list was dropped in time.
    const next = await send(b2, conv, tag('welcome'));
    await allGet([c1, c2], 'MESSAGE_SENT', (d) => d.message.id === next.id);
  });

  it('a leave on node 1 silences node 2\u2019s connections of that user at once, and the conversation is NOT_FOUND there', async () => {
    const [a, b, c] = await users(3);
    const conv = await createGroup(cluster().db, [a!, b!, c!]);
    const fenceConv = await createGroup(cluster().db, [a!, b!]);
    const a1 = (await cluster().signIn(0, a!)).client;
    const b2 = (await cluster().signIn(1, b!)).client;
    const b2b = (await cluster().signIn(1, b!)).client;
    const c3 = (await cluster().signIn(2, c!)).client;
    const old = await send(a1, conv, tag('before'));
    await allGet([b2, b2b, c3], 'MESSAGE_SENT', (d) => d.message.id === old.id);

    const res = await http(0, 'DELETE', `/massenger/${conv}/members/${b}`, b!);
    expect(res).toEqual({ status: 200, body: { data: { conversationId: conv, removed: [b] }, errors: null } });
    // Straight after the answer, from every node: messages, an edit, typing.
    await send(c3, conv, tag('from node 3'));
    await send(a1, conv, tag('from node 1'));
    await a1.request('EDIT_MESSAGE', { messageId: old.id, content: 'edited after the leave' }, 'MESSAGE_EDITED');
    c3.send('TYPING', { conversationId: conv });
    await allGet([a1], 'TYPING', (d) => d.conversationId === conv);
    await allGet([a1, b2, b2b, c3], 'MEMBERS_CHANGED', (d) => d.conversationId === conv && d.removed[0] === b);
    const fence = await send(a1, fenceConv, tag('fence'));
    for (const x of [b2, b2b]) {
      await allGet([x], 'MESSAGE_SENT', (d) => d.message.id === fence.id);
      const after = x.frames.slice(x.frames.findIndex((f) => f.method === 'MEMBERS_CHANGED') + 1);
      expect(after.map((f) => f.method)).toEqual(['MESSAGE_SENT']);
    }
    for (const [method, data] of [
      ['FETCH_MESSAGES', { conversationId: conv }],
      ['SEND_MESSAGE', { conversationId: conv, content: 'still here?' }],
    ] as const) {
      expect((await b2.request(method, data, 'NONE')).data).toMatchObject({ code: 'NOT_FOUND', method });
    }
  });
});
