/**
 * Abuse (issue 7): a slowloris that sends half a frame and trickles the rest, signed in or not;
 * one user with hundreds of devices; fan-out into a 256-member conversation at the rate limit.
 * (A peer that stops answering pings is in limits.test.ts.) These are transport behaviours, so
 * they run on one database: PostgreSQL when reachable, else PGlite.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { CLOSE_HANDSHAKE_TIMEOUT_MS } from '../../src/transport/connection.js';
import { backends, type BackendNode } from '../support/backends.js';
import type { TestClient } from '../support/client.js';
import { openConnections } from '../support/metrics.js';
import { befriend, createGroup } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { closedWithin, expectAlive, freshUsers, nodeForSuite, received, waitFor } from './helpers.js';
import { maskedFrame, RawSocket } from './raw-socket.js';

const AUTH_TIMEOUT_MS = 500;
const HEARTBEAT_INTERVAL_MS = 250;
const DEVICES = 200;
const MEMBERS = 256;

const backend = (await backends()).at(-1)!;

/** Sends half of a frame that declares 1000 bytes, then one byte every 50 ms until the server hangs up. */
function slowloris(raw: RawSocket): void {
  raw.write(maskedFrame(Buffer.from('{"method":"PI'), { declaredLength: 1000 }));
  const trickle = setInterval(() => raw.write(randomBytes(1)), 50);
  void raw.ended.then(() => clearInterval(trickle));
}

/** Signs in `n` connections of one user, a few at a time. */
async function devices(open: (userId: string) => Promise<TestClient>, userId: string, n: number): Promise<TestClient[]> {
  const all: TestClient[] = [];
  for (let i = 0; i < n; i += 20) all.push(...(await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => open(userId)))));
  return all;
}

describe(`gateway abuse: a slowloris before sign-in (${backend.name})`, () => {
  const { node } = nodeForSuite(backend, { AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) });

  it('sending half a frame does not hold the deadline: 4401 at AUTH_TIMEOUT_MS, and the socket is cut when the close goes unanswered', async () => {
    const t = node();
    const before = await openConnections(t.http);
    const raw = await RawSocket.open(t.ws);
    const started = Date.now();
    slowloris(raw);
    await waitUntil(() => raw.closeCode !== null, 'a close frame on the raw socket', AUTH_TIMEOUT_MS + 3000);
    expect(raw.closeCode).toBe(4401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 100);
    // It answers neither the close nor pings: cut after CLOSE_HANDSHAKE_TIMEOUT_MS, not ws's 30 s.
    await raw.ended;
    expect(Date.now() - started).toBeLessThan(AUTH_TIMEOUT_MS + CLOSE_HANDSHAKE_TIMEOUT_MS + 2000);
    await vi.waitFor(async () => expect(await openConnections(t.http)).toBe(before), { timeout: 5000, interval: 20 });
  }, 30_000);
});

describe(`gateway abuse (${backend.name})`, () => {
  const { clients, node } = nodeForSuite(backend, {
    HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
    MAX_CONNECTIONS_PER_USER: String(DEVICES),
  });
  let t: BackendNode;
  beforeAll(() => {
    t = node();
  });

  it('a signed-in slowloris stops answering pings behind its half frame: dropped after about two heartbeats, friends hear USER_LEFT', async () => {
    const [mallory, friend] = await freshUsers(t, 2);
    await befriend(t.db, mallory!, friend!);
    const watcher = await clients.online(friend!);
    const raw = await RawSocket.open(t.ws);
    raw.sendJson({ method: 'AUTHENTICATE', data: { token: await t.token(mallory!) } });
    await waitUntil(() => raw.json().some((f) => f.method === 'INIT'), 'INIT on the raw socket');
    await waitFor(watcher, 'USER_JOINED', (d) => d.userId === mallory);
    const started = Date.now();
    slowloris(raw);
    await raw.ended;
    // A pong cannot go out in the middle of a frame; the beat after the unanswered ping terminates it.
    expect(Date.now() - started).toBeLessThan(8 * HEARTBEAT_INTERVAL_MS);
    expect(raw.closeCode).toBeNull(); // terminated, no close handshake to wait for
    expect((await waitFor(watcher, 'USER_LEFT')).data).toEqual({ userId: mallory });
    await expectAlive(watcher);
  });

  it(`one user with ${DEVICES} devices: one USER_JOINED, every device gets every message, one USER_LEFT after the last; one more device is refused`, async () => {
    const [many, friend] = await freshUsers(t, 2);
    const conv = await befriend(t.db, many!, friend!);
    const watcher = await clients.online(friend!);
    const all = await devices((u) => clients.online(u), many!, DEVICES);
    await waitFor(watcher, 'USER_JOINED', (d) => d.userId === many);

    const sent = await watcher.request('SEND_MESSAGE', { conversationId: conv, content: 'to every device' }, 'MESSAGE_SENT');
    for (const d of all) await waitFor(d, 'MESSAGE_SENT', (m) => m.message.id === sent.data.message.id);
    const extra = await clients.open();
    extra.send('AUTHENTICATE', { token: await t.token(many!) });
    expect((await closedWithin(extra)).code).toBe(4429);

    const last = all.pop()!;
    for (const d of all) d.close();
    await Promise.all(all.map((d) => closedWithin(d)));
    await vi.waitFor(async () => expect(await openConnections(t.http)).toBe(2), { timeout: 10_000, interval: 20 });
    // The fence: the watcher's PONG comes after anything published before it.
    await expectAlive(watcher);
    expect(received(watcher, 'USER_LEFT')).toHaveLength(0);
    last.close();
    expect((await waitFor(watcher, 'USER_LEFT')).data).toEqual({ userId: many });
    await expectAlive(watcher);
    expect(received(watcher, 'USER_JOINED', (d) => d.userId === many)).toHaveLength(1);
    expect(received(watcher, 'USER_LEFT')).toHaveLength(1);
  }, 60_000);
});

// Its own node, with the default heartbeat: 256 clients in this process take in 38,400 frames of
// 1 KB, and on a loaded machine a client can be more than the suite above's two 250 ms heartbeats
// behind in reading, which is that suite's point (a peer that does not answer is dropped), not this one's.
describe(`gateway abuse: fan-out (${backend.name})`, () => {
  const { clients, node } = nodeForSuite(backend);
  let t: BackendNode;
  beforeAll(() => {
    t = node();
  });

  it(`fan-out into a ${MEMBERS}-member conversation at the rate limit: every member gets every message, in one order; nobody is refused or closed`, async () => {
    const members = await freshUsers(t, MEMBERS, 'm');
    const conv = await createGroup(t.db, members);
    const online: TestClient[] = [];
    for (let i = 0; i < MEMBERS; i += 32) online.push(...(await Promise.all(members.slice(i, i + 32).map((m) => clients.online(m)))));
    // Two senders, each keeping four sends in flight (as the client library does), well within the
    // rate limit: 150 messages of ~1 KB in all, 38,400 deliveries.
    const PER_SENDER = 75;
    const WINDOW = 4;
    const content = 'x'.repeat(1000);
    const sending = ['a', 'b'].map((name, s) => {
      const sender = online[s]!;
      let next = 0;
      const send = () => {
        const id = `fan-${name}-${next++}`;
        sender.send('SEND_MESSAGE', { conversationId: conv, content, clientMessageId: id, requestId: id });
      };
      sender.ws.on('message', (raw) => {
        const frame = JSON.parse(raw.toString());
        if (frame.method === 'MESSAGE_SENT' && frame.data.requestId !== undefined && next < PER_SENDER) send();
      });
      for (let i = 0; i < WINDOW; i++) send();
      return sender;
    });
    const total = 2 * PER_SENDER;
    await vi.waitFor(() => expect(online.every((c) => received(c, 'MESSAGE_SENT').length >= total)).toBe(true), { timeout: 60_000, interval: 50 });
    expect(sending.flatMap((c) => received(c, 'ERROR'))).toEqual([]);
    const order = received(online[0]!, 'MESSAGE_SENT').map((f) => f.data.message.id);
    expect(new Set(order).size).toBe(total);
    expect(order.map(Number)).toEqual([...order.map(Number)].sort((a, b) => a - b)); // stored order
    for (const c of online) {
      expect(received(c, 'MESSAGE_SENT').map((f) => f.data.message.id)).toEqual(order);
      expect(received(c, 'ERROR')).toEqual([]);
    }
    await Promise.all([expectAlive(online[0]!), expectAlive(online[1]!), expectAlive(online[MEMBERS - 1]!)]);
  }, 120_000);
});
