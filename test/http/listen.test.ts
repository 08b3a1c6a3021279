/**
 * The one real-listen smoke test (style §13): the same routes over a real socket with fetch, so
 * what inject() cannot show (the listening server, real loopback address, headers on the wire)
 * is covered once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../scripts/support/fixtures.js';
import { startNode, type TestNode } from '../support/node.js';

describe('HTTP over a real socket (PGlite)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startNode();
  });
  afterAll(async () => {
    await t?.close();
  });

  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${t.http}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    return { status: res.status, headers: res.headers, body: (await res.json()) as { data: any; errors: string | null } };
  };

  it('serves health, the public API and the private API on one port', async () => {
    expect(await call('/healthz')).toMatchObject({ status: 200, body: { data: { status: 'up' }, errors: null } });
    expect(await call('/readyz')).toMatchObject({ status: 200, body: { data: { database: 'ok' }, errors: null } });

    const alice = await createUser(t.db, 'alice');
    const bob = await createUser(t.db, 'bob');
    const { client } = await t.signIn(bob);
    const authorization = `Bearer ${await t.token(alice)}`;
    const started = await call('/Massenger/startConversation', {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: [bob] }),
    });
    expect(started.status).toBe(200);
    const { conversationId } = started.body.data;
    expect((await client.next('INVITATION_SENT')).data).toEqual({ conversationId });

    const listed = await call('/massenger?limit=5', { headers: { authorization } });
    expect(listed.body.data.conversations.map((c: any) => c.id)).toEqual([conversationId]);
    const one = await call(`/massenger/${conversationId}`, { headers: { authorization } });
    expect(one.body.data.conversation).toMatchObject({ id: conversationId, messages: [], hasMore: false });

    const refused = await call('/massenger');
    expect(refused).toMatchObject({ status: 401, body: { data: null, errors: expect.any(String) } });
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');

    // Without INTERNAL_API_TOKEN the private route takes loopback callers, which fetch here is.
    const pushed = await call('/socket/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ users: [bob], content: 'over the wire' }),
    });
    expect(pushed).toMatchObject({ status: 200, body: { data: { users: 1 }, errors: null } });
    expect((await client.next('NOTIFICATION_SENT')).data).toEqual({ content: 'over the wire' });

    expect(await call('/nope')).toMatchObject({ status: 404, body: { data: null, errors: 'no route GET /nope' } });

    const metrics = await fetch(`${t.http}/metrics`, { signal: AbortSignal.timeout(5000) });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^massenger_connections 1$/m);
    client.close();
  });
});
