/**
 * The issue "many nodes behave like one", presence part: a user is online while any device is
 * connected on any node; friends hear USER_JOINED on the first device anywhere and USER_LEFT after
 * the last; a node killed with kill -9 has its users go offline for their friends within 5 s
 * (spec §2.3; lease 4 s + heartbeat 1 s by default), asserted with 1 s of slack for the reap,
 * last_visit and the publish on a loaded machine.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { befriend, createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { allGet, clusterAvailable, framesOf, notificationFence, presenceFence, tag, useCluster } from './helpers.js';

/** Spec §2.3's 5 s for a crashed node's users (lease 4 s + heartbeat 1 s), plus 1 s of slack. */
const CRASH_OFFLINE_MS = 6000;

describe.runIf(clusterAvailable)('cluster presence', () => {
  const cluster = useCluster();

  async function lastVisit(userId: string): Promise<Date | null> {
    const { rows } = await cluster().db.query<{ last_visit: Date | null }>('SELECT last_visit FROM users WHERE id = $1', [userId]);
    return rows[0]?.last_visit ?? null;
  }

  it('USER_JOINED once when a second device connects on another node; USER_LEFT only after the last device, wherever it is', async () => {
    const c = cluster();
    const [u, f, g] = await Promise.all(['u', 'f', 'g'].map((n) => createUser(c.db, tag(n))));
    const fuConversation = await befriend(c.db, f!, u!);
    const guConversation = await befriend(c.db, u!, g!);
    // Friends: F on n1; G with devices on n2 and n3.
    const f1 = (await c.signIn(0, f!)).client;
    const g2 = (await c.signIn(1, g!)).client;
    const g3 = (await c.signIn(2, g!)).client;
    const friends = [f1, g2, g3];
    const joined = (d: Record<string, any>) => d.userId === u;

    const u2 = (await c.signIn(1, u!)).client;
    await allGet(friends, 'USER_JOINED', joined);
    expect(framesOf(f1, 'USER_JOINED', joined)[0]!.data).toEqual({ id: u, userId: u, conversationId: fuConversation });
    expect(framesOf(g3, 'USER_JOINED', joined)[0]!.data).toEqual({ id: u, userId: u, conversationId: guConversation });

    // A second device on another node: nobody hears a second USER_JOINED.
    const u3 = (await c.signIn(2, u!)).client;
    const u3b = await presenceFence(c, 2, 2, u!, friends, [f!, g!]); // n3 holds g3 and u3
    for (const fr of friends) expect(framesOf(fr, 'USER_JOINED', joined)).toHaveLength(1);

    // First device closes: U is still online (on n3).
    u2.close();
    const u2b = await presenceFence(c, 1, 1, u!, friends, [f!, g!]); // n2 holds g2 once u2 is gone
    for (const fr of friends) expect(framesOf(fr, 'USER_LEFT', joined)).toHaveLength(0);
    // A friend signing in now, on n1, sees U online.
    const [h] = await Promise.all([createUser(c.db, tag('h'))]);
    await befriend(c.db, h!, u!);
    const { init } = await c.signIn(0, h!);
    expect(init.onlineFriends.map((o: { id: string }) => o.id)).toEqual([u]);

    // Last devices close (the fences' too): USER_LEFT within 5 s (spec §2.3), once per friend connection.
    const closedAt = Date.now();
    for (const device of [u2b, u3b, u3]) device.close();
    await allGet(friends, 'USER_LEFT', joined, 5000);
    console.log(`[cluster] USER_LEFT after the last device closed: ${Date.now() - closedAt} ms`);
    // Nor did the other node tell it: a sign-in on each follows what the closes there told (U is
    // back online by them; only USER_LEFT is counted here).
    for (const i of [1, 2]) await presenceFence(c, i, 1, u!, friends, [f!, g!]);
    for (const fr of friends) expect(framesOf(fr, 'USER_LEFT', joined)).toHaveLength(1);
    const visit = await lastVisit(u!);
    expect(visit).not.toBeNull();
    expect(visit!.getTime()).toBeGreaterThan(closedAt - 2000);
  });

  it('INIT on n1 reports friends and members online on n2 and n3 (onlineFriends, online, active)', async () => {
    const c = cluster();
    const [me, u, v, w] = await Promise.all(['me', 'u', 'v', 'w'].map((n) => createUser(c.db, tag(n))));
    const withU = await befriend(c.db, me!, u!);
    const withV = await befriend(c.db, v!, me!);
    const withW = await befriend(c.db, me!, w!);
    await c.signIn(1, u!);
    await c.signIn(2, v!);
    // Wait until both are registered cluster-wide (their own friends are none, so nothing to observe but presence).
    await waitUntil(async () => (await c.post(0, '/socket/notifications', { users: [u, v], content: 'probe' })).body.data.users === 2, 'u and v online', 5000, 50);
    const { init } = await c.signIn(0, me!);
    const online = new Map((init.onlineFriends as Array<{ id: string; conversationId: string }>).map((o) => [o.id, o.conversationId]));
    expect(online).toEqual(new Map([[u, withU], [v, withV]]));
    const byId = new Map((init.conversations as Array<{ id: string; active: boolean; users: Array<{ id: string; online: boolean }> }>).map((cv) => [cv.id, cv]));
    expect(byId.get(withU)!.active).toBe(true);
    expect(byId.get(withV)!.active).toBe(true);
    expect(byId.get(withW)!.active).toBe(false);
    expect(byId.get(withU)!.users.find((x) => x.id === u)!.online).toBe(true);
    expect(byId.get(withW)!.users.find((x) => x.id === w)!.online).toBe(false);
    expect(byId.get(withW)!.users.find((x) => x.id === me)!.online).toBe(true);
  });

  it(`kill -9 of the node holding a user: friends on the other nodes get USER_LEFT within ${CRASH_OFFLINE_MS / 1000} s; after a restart the user comes back`, async () => {
    const c = cluster();
    const [u, f, h] = await Promise.all(['u', 'f', 'h'].map((n) => createUser(c.db, tag(n))));
    const fu = await befriend(c.db, f!, u!);
    await befriend(c.db, u!, h!);
    const f1 = (await c.signIn(0, f!)).client;
    const h3 = (await c.signIn(2, h!)).client;
    const u2 = (await c.signIn(1, u!)).client;
    const isU = (d: Record<string, any>) => d.userId === u;
    await allGet([f1, h3], 'USER_JOINED', isU);

    const killedAt = Date.now();
    await c.kill(1, 'SIGKILL');
    await u2.closed;
    await waitUntil(() => framesOf(f1, 'USER_LEFT', isU).length > 0 && framesOf(h3, 'USER_LEFT', isU).length > 0, 'USER_LEFT after kill -9', CRASH_OFFLINE_MS, 50);
    const tookMs = Date.now() - killedAt;
    console.log(`[cluster] kill -9 → USER_LEFT on the other nodes after ${tookMs} ms (lease 4 s + heartbeat 1 s)`);
    expect(tookMs).toBeLessThanOrEqual(CRASH_OFFLINE_MS);
    // A heartbeat (1 s) of each survivor: a second reap would tell again (time is the scenario);
    // then a fence from each follows what it published.
    await sleep(1000);
    for (const i of [0, 2]) await notificationFence(c, i, [f!, h!], [f1, h3]);
    expect(framesOf(f1, 'USER_LEFT', isU)).toHaveLength(1);
    expect(framesOf(h3, 'USER_LEFT', isU)).toHaveLength(1);
    const visit = await lastVisit(u!);
    expect(visit).not.toBeNull();
    expect(visit!.getTime()).toBeGreaterThanOrEqual(killedAt - 1000);
    // Offline cluster-wide: a notification counts nobody.
    expect((await c.post(0, '/socket/notifications', { users: [u], content: 'x' })).body.data.users).toBe(0);

    await c.restart(1);
    const again = (await c.signIn(1, u!)).client;
    await waitUntil(() => framesOf(f1, 'USER_JOINED', isU).length === 2 && framesOf(h3, 'USER_JOINED', isU).length === 2, 'USER_JOINED after restart', 5000);
    expect(framesOf(f1, 'USER_JOINED', isU)[1]!.data).toEqual({ id: u, userId: u, conversationId: fu });
    // And chat works through the restarted node.
    again.send('SEND_MESSAGE', { conversationId: fu, content: 'back' });
    await allGet([f1], 'MESSAGE_SENT', (d) => d.message.content === 'back');
  }, 60_000);

  it(`kill -9 and an immediate restart with the same NODE_ID: friends still get USER_LEFT within ${CRASH_OFFLINE_MS / 1000} s`, async () => {
    const c = cluster();
    const [u, f] = await Promise.all(['u', 'f'].map((n) => createUser(c.db, tag(n))));
    await befriend(c.db, f!, u!);
    const f1 = (await c.signIn(0, f!)).client;
    const u3 = (await c.signIn(2, u!)).client;
    const isU = (d: Record<string, any>) => d.userId === u;
    await allGet([f1], 'USER_JOINED', isU);
    const killedAt = Date.now();
    await c.kill(2, 'SIGKILL');
    await u3.closed;
    // A supervisor restarts it at once, before its lease has run out.
    await c.restart(2);
    await waitUntil(() => framesOf(f1, 'USER_LEFT', isU).length > 0, 'USER_LEFT after kill -9 and restart', CRASH_OFFLINE_MS, 100);
    const tookMs = Date.now() - killedAt;
    console.log(`[cluster] kill -9 + immediate restart (same NODE_ID) → USER_LEFT after ${tookMs} ms`);
    expect(tookMs).toBeLessThanOrEqual(CRASH_OFFLINE_MS);
    expect(await lastVisit(u!)).not.toBeNull();
    expect((await c.post(0, '/socket/notifications', { users: [u], content: 'x' })).body.data.users).toBe(0);
  }, 60_000);
});
