/**
 * The client's sign-in over time against a real node: refreshing before the token's `exp` on the
 * same connection, a new token after a 4401, stopping for good when a fixed token ends, and a
 * longer back-off after a 4429.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { befriend } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { freshUsers } from '../gateway/helpers.js';
import { tokenExpiry } from '../../src/client/token.js';
import { Clients, NODE_START_MS, startTestNode } from './support.js';

describe('MassengerClient sign-in', () => {
  let t: TestNode;
  const clients = new Clients();
  beforeAll(async () => {
    t = await startTestNode();
  }, NODE_START_MS);
  afterEach(() => clients.closeAll());
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  it('refreshes with AUTHENTICATE before exp and keeps the same connection past the first token’s exp', async () => {
    const [alice] = await freshUsers(t, 1, 'refresh');
    const issued: Array<{ at: number; expiresAt: number }> = [];
    const { client, rec } = clients.make({
      url: t.ws,
      refreshBeforeExpMs: 1000,
      token: async () => {
        const token = await t.token(alice!, 3);
        issued.push({ at: Date.now(), expiresAt: tokenExpiry(token)! });
        return token;
      },
    });
    await client.connect();
    // A refresh answers with INIT on the same connection. The third INIT answers the second
    // refresh, which comes after the first token has expired: the first refresh kept the link.
    await rec.waitFor('INIT', () => true, 10_000, 3);
    expect(Date.now()).toBeGreaterThan(issued[0]!.expiresAt);
    expect(issued[1]!.at).toBeLessThan(issued[0]!.expiresAt);
    expect(rec.all('state').map((s) => s.state)).toEqual(['connecting', 'open']);
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
    expect(rec.all('authFailed')).toEqual([]);
  });

  it('after a 4401 asks for a new token first, then reconnects and sends', async () => {
    const [alice, bob] = await freshUsers(t, 2, 'expired');
    const conversationId = await befriend(t.db, alice!, bob!);
    let failing = false;
    let calls = 0;
    const { client, rec } = clients.make({
      url: t.ws,
      refreshBeforeExpMs: 1000,
      token: () => {
        calls++;
        if (failing) throw new Error('the main API is away');
        failing = true; // every refresh fails until the server has ended the sign-in
        return t.token(alice!, 2);
      },
    });
    await client.connect();
    const closed = await rec.waitFor('state', (s) => s.state === 'reconnecting', 8000);
    expect(closed.code).toBe(4401);
    expect(rec.all('authFailed').every((f) => !f.fatal && /away/.test(f.error.message))).toBe(true);
    const callsAtClose = calls;
    failing = false;
    // Calls made while failing were refreshes; the close makes the next connection fetch anew.
    const init = await rec.waitFor('INIT', () => true, 8000, 2);
    expect(init.userId).toBe(alice);
    expect(calls).toBeGreaterThan(callsAtClose);
    expect((await client.send(conversationId, 'back')).content).toBe('back');
  });

  it('with a fixed token, stops for good when the server ends the sign-in', async () => {
    const [alice] = await freshUsers(t, 1, 'fixed');
    const { client, rec } = clients.make({ url: t.ws, token: await t.token(alice!, 2) });
    await client.connect();
    const closed = await rec.waitFor('state', (s) => s.state === 'closed', 8000);
    expect(closed.code).toBe(4401);
    expect(await rec.waitFor('authFailed')).toMatchObject({ fatal: true, error: { code: 'UNAUTHENTICATED' } });
    await expect(client.send('1', 'too late')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(rec.all('state').map((s) => s.state)).toEqual(['connecting', 'open', 'closed']);
  });
});

describe('MassengerClient after a rate-limit close (4429)', () => {
  let t: TestNode;
  const clients = new Clients();
  beforeAll(async () => {
    t = await startTestNode({ RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '3', RATE_LIMIT_STRIKES: '3' });
  }, NODE_START_MS);
  afterEach(() => clients.closeAll());
  afterAll(async () => {
    clients.closeAll();
    await t?.close();
  });

  it('waits at least rateLimitedMs before reconnecting', async () => {
    const [alice] = await freshUsers(t, 1, 'flood');
    // Pinned jitter: a 4429 waits 1500 ms exactly; any other close at most 50 ms at first.
    const { client, rec } = clients.make({ url: t.ws, token: () => t.token(alice!), backoff: { baseMs: 50, rateLimitedMs: 1500, random: () => 0 } });
    await client.connect();
    const answers = await Promise.allSettled(Array.from({ length: 12 }, () => client.ping()));
    const refused = answers.filter((a) => a.status === 'rejected').map((a) => (a as PromiseRejectedResult).reason.code);
    expect(refused).toContain('RATE_LIMITED');
    const closed = await rec.waitFor('state', (s) => s.state === 'reconnecting');
    expect(closed).toMatchObject({ code: 4429, delayMs: 1500 });
    await rec.waitFor('state', (s) => s.state === 'open', 8000, 2);
    const states = rec.events.filter((e) => e.event === 'state');
    const close = states.findIndex((e) => e.event === 'state' && e.data.code === 4429);
    const next = states.slice(close).find((e) => e.event === 'state' && e.data.state === 'connecting');
    expect(next!.at - states[close]!.at).toBeGreaterThanOrEqual(1450);
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
  });
});
