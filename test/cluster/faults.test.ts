/**
 * The issue "many nodes behave like one", Redis faults: with the cluster's Redis (test-owned, never
 * the shared one) killed during traffic, nodes keep serving what they can locally, /readyz says 503,
 * nothing crashes; when Redis comes back on the same port (empty: no persistence), routing and
 * presence are correct again without restarting any node.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { befriend, createGroup, createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import type { TestClient } from '../support/client.js';
import { allGet, clusterAvailable, framesOf, notificationFence, tag, useCluster } from './helpers.js';

describe.runIf(clusterAvailable)('cluster with Redis down and back', () => {
  const cluster = useCluster();

  it('Redis killed during traffic: 503 on /readyz, local chat still works and is stored; Redis back: routing and presence recover', async () => {
    const c = cluster();
    const [a, b, cc, p, q, r] = await Promise.all(['a', 'b', 'c', 'p', 'q', 'r'].map((n) => createUser(c.db, tag(n))));
    const conversationId = await createGroup(c.db, [a!, b!, cc!]);
    const pq = await befriend(c.db, p!, q!);
    await befriend(c.db, q!, r!);
    // A and B on n1 (same node), C on n2; P online on n2 before the outage.
    const a1 = (await c.signIn(0, a!)).client;
    const b1 = (await c.signIn(0, b!)).client;
    const c2 = (await c.signIn(1, cc!)).client;
    await c.signIn(1, p!);
    await waitUntil(async () => (await c.post(0, '/socket/notifications', { users: [p], content: 'probe' })).body.data.users === 1, 'p online', 5000, 50);

    // Traffic: A sends every 40 ms from before the outage until after it.
    const sent: string[] = [];
    let sending = true;
    const traffic = (async () => {
      for (let k = 0; sending; k++) {
        const id = `t-${k}`;
        sent.push(id);
        a1.send('SEND_MESSAGE', { conversationId, content: id, clientMessageId: id });
        await sleep(40);
      }
    })();
    await sleep(300); // traffic before the outage: the scenario

    const stoppedAt = Date.now();
    await c.redis.stop();
    const notReadyMs = await Promise.all([0, 1, 2].map((i) => c.waitStatus(i, '/readyz', 503, 10_000)));
    console.log(`[cluster] Redis killed: /readyz 503 after ${Math.max(...notReadyMs)} ms`);

    // Local service goes on: A and B (both on n1) chat, and every message is stored.
    const during = tag('during-outage');
    const ack = await a1.request('SEND_MESSAGE', { conversationId, content: during }, 'MESSAGE_SENT', 8000);
    expect(ack.method).toBe('MESSAGE_SENT');
    await allGet([b1], 'MESSAGE_SENT', (d) => d.message.content === during);
    const reply = await b1.request('SEND_MESSAGE', { conversationId, content: `${during}-reply` }, 'MESSAGE_SENT', 8000);
    expect(reply.method).toBe('MESSAGE_SENT');
    await allGet([a1], 'MESSAGE_SENT', (d) => d.message.content === `${during}-reply`);
    const { rows } = await c.db.query<{ n: string }>('SELECT count(*)::text AS n FROM messages WHERE conversation_id = $1 AND content LIKE $2', [conversationId, `${during}%`]);
    expect(rows[0]!.n).toBe('2');
    // The private API and a new sign-in still answer (from local knowledge).
    expect((await c.post(0, '/socket/notifications', { users: [a, b], content: 'local' })).status).toBe(200);
    await c.signIn(2, r!);
    // A while in the outage (heartbeats and reconnects run against nothing): no node may go down.
    await sleep(1500);
    for (let i = 0; i < 3; i++) {
      expect(c.alive(i), `node ${i + 1} alive`).toBe(true);
      expect(await c.status(i, '/healthz')).toBe(200);
      expect(await c.status(i, '/readyz')).toBe(503);
    }

    // Redis returns, on the same port and empty.
    await c.redis.start();
    const outageMs = Date.now() - stoppedAt;
    const readyMs = await Promise.all([0, 1, 2].map((i) => c.waitStatus(i, '/readyz', 200, 15_000)));
    console.log(`[cluster] Redis back after a ${outageMs} ms outage: /readyz 200 after ${Math.max(...readyMs)} ms`);
    sending = false;
    await traffic;

    // Every message of the traffic was acknowledged and stored, once.
    await waitUntil(() => framesOf(a1, 'MESSAGE_SENT', (d) => sent.includes(d.message.clientMessageId)).length >= sent.length, 'acks for the traffic', 10_000);
    expect(framesOf(a1, 'ERROR')).toEqual([]);
    const stored = await c.db.query<{ id: string }>('SELECT client_message_id AS id FROM messages WHERE conversation_id = $1 AND client_message_id LIKE $2', [conversationId, 't-%']);
    expect(stored.rows.map((x) => x.id).sort()).toEqual([...sent].sort());
    // B, on the sender's node, got the traffic at most once each, in stored order.
    const bIds = framesOf(b1, 'MESSAGE_SENT', (d) => String(d.message.content).startsWith('t-')).map((f) => BigInt(f.data.message.id as string));
    expect(new Set(bIds).size).toBe(bIds.length);
    for (let i = 1; i < bIds.length; i++) expect(bIds[i]! > bIds[i - 1]!).toBe(true);

    // Cross-node routing works again (within a bounded wait for the subscriber to re-subscribe):
    // a probe every 200 ms until one arrives.
    const probes = new Set<string>();
    const routedMs = await waitUntil(() => {
      if (framesOf(c2, 'MESSAGE_SENT', (d) => probes.has(d.message.content)).length > 0) return true;
      const probe = tag('after');
      probes.add(probe);
      a1.send('SEND_MESSAGE', { conversationId, content: probe });
      return false;
    }, 'cross-node delivery after Redis returned', 15_000, 200);
    console.log(`[cluster] cross-node delivery back ${routedMs} ms after /readyz 200`);
    for (const [sender, receivers] of [
      [c2, [a1, b1]],
      [b1, [c2]],
    ] as Array<[TestClient, TestClient[]]>) {
      const text = tag('routed');
      sender.send('SEND_MESSAGE', { conversationId, content: text });
      await allGet(receivers, 'MESSAGE_SENT', (d) => d.message.content === text, 5000);
    }

    // Presence is correct again: P (n2, online since before the outage) is online for Q signing in on n1.
    const { client: q1, init } = await c.signIn(0, q!);
    expect(init.onlineFriends).toContainEqual({ id: p, conversationId: pq });
    // R signed in on n3 during the outage: online cluster-wide now.
    expect(init.onlineFriends.map((o: { id: string }) => o.id)).toContain(r);
    expect((await c.post(1, '/socket/notifications', { users: [p, q, r, a, cc], content: 'count' })).body.data.users).toBe(5);
    // USER_JOINED and USER_LEFT cross nodes again.
    const s = await createUser(c.db, tag('s'));
    await befriend(c.db, s, q!);
    const s3 = (await c.signIn(2, s)).client;
    await allGet([q1], 'USER_JOINED', (d) => d.userId === s);
    s3.close();
    await allGet([q1], 'USER_LEFT', (d) => d.userId === s, 5000);
    for (let i = 0; i < 3; i++) expect(c.alive(i)).toBe(true);
  }, 90_000);

  it('Redis unreachable (frozen) for longer than the presence lease, then back with its keys: users still connected stay online, no spurious USER_LEFT', async () => {
    const c = cluster();
    const [u, f] = await Promise.all(['u', 'f'].map((n) => createUser(c.db, tag(n))));
    const fu = await befriend(c.db, f!, u!);
    const f1 = (await c.signIn(0, f!)).client;
    const u2 = (await c.signIn(1, u!)).client;
    await allGet([f1], 'USER_JOINED', (d) => d.userId === u);
    c.redis.pause();
    try {
      await Promise.all([0, 1, 2].map((i) => c.waitStatus(i, '/readyz', 503, 10_000)));
      // Longer than the 4 s lease: every node's lease key is past its TTL when Redis wakes up.
      await sleep(6000);
    } finally {
      c.redis.resume();
    }
    await Promise.all([0, 1, 2].map((i) => c.waitStatus(i, '/readyz', 200, 15_000)));
    // Let several heartbeats (1 s) run: reaping must not take live nodes' users offline. Time is the scenario.
    await sleep(4000);
    for (const i of [0, 1, 2]) await notificationFence(c, i, [f!], [f1]); // what each published is in
    expect(framesOf(f1, 'USER_LEFT', (d) => d.userId === u)).toEqual([]);
    expect((await c.post(0, '/socket/notifications', { users: [u, f], content: 'count' })).body.data.users).toBe(2);
    const g = await createUser(c.db, tag('g'));
    await befriend(c.db, g, u!);
    const { init } = await c.signIn(2, g);
    expect(init.onlineFriends.map((o: { id: string }) => o.id)).toEqual([u]);
    u2.send('SEND_MESSAGE', { conversationId: fu, content: 'after-freeze' });
    await allGet([f1], 'MESSAGE_SENT', (d) => d.message.content === 'after-freeze', 5000);
  }, 60_000);
});
