import { describe, expect, it } from 'vitest';
import { createReceiver } from '../../src/core/fanout.js';
import { Hub, type Peer } from '../../src/core/hub.js';
import { MembersCache } from '../../src/core/members.js';
import { SerialQueue } from '../../src/core/serial.js';
import { RateLimiter } from '../../src/transport/rate-limiter.js';

function peer(id: string, inbox: string[]): Peer {
  return { id, send: (text) => inbox.push(`${id}:${text}`) };
}

describe('Hub', () => {
  it('counts first and last connections per user and delivers to every device', () => {
    const hub = new Hub();
    const inbox: string[] = [];
    const phone = peer('1', inbox);
    const laptop = peer('2', inbox);
    expect(hub.attach('u', phone)).toBe(true);
    expect(hub.attach('u', laptop)).toBe(false);
    expect(hub.deliver(['u', 'nobody'], 'x', 'MESSAGE_SENT', { peerId: '2', text: 'mine' })).toBe(2);
    expect(inbox).toEqual(['1:x', '2:mine']);
    expect(hub.detach('u', phone)).toBe(false);
    expect(hub.detach('u', phone)).toBe(false);
    expect(hub.detach('u', laptop)).toBe(true);
    expect(hub.holds('u')).toBe(false);
    expect(hub.userCount).toBe(0);
  });

  it('keeps every device through a lone connection, a set of three and back to one', () => {
    const hub = new Hub();
    const inbox: string[] = [];
    const [a, b, c] = ['1', '2', '3'].map((id) => peer(id, inbox)) as [Peer, Peer, Peer];
    expect(hub.attach('u', a)).toBe(true);
    expect(hub.attach('u', a)).toBe(false);
    expect(hub.detach('u', b)).toBe(false);
    expect(hub.holds('u')).toBe(true);
    expect(hub.deliver(['u'], 'one', 'MESSAGE_SENT')).toBe(1);
    hub.attach('u', b);
    hub.attach('u', c);
    expect(hub.deliver(['u'], 'three', 'MESSAGE_SENT')).toBe(3);
    expect(hub.detach('u', a)).toBe(false);
    expect(hub.detach('u', c)).toBe(false);
    expect(hub.deliver(['u'], 'left', 'MESSAGE_SENT')).toBe(1);
    expect(hub.attach('u', a)).toBe(false);
    expect(hub.deliver(['u'], 'two', 'MESSAGE_SENT')).toBe(2);
    expect(hub.detach('u', b)).toBe(false);
    expect(hub.detach('u', a)).toBe(true);
    expect(hub.userCount).toBe(0);
    expect(inbox).toEqual(['1:one', '1:three', '2:three', '3:three', '2:left', '2:two', '1:two']);
  });
});

describe('receiver', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const message = (id: number, origin: { nodeId: string; connectionId: string; text: string } | null) => ({
    type: 'message' as const,
    conversationId: 'c',
    messageId: String(id),
    prevId: null,
    prevInFlight: false,
    userIds: ['u', 'v'],
    text: `m${id}`,
    origin,
  });

  it("writes a message to every member's connections, and the sender's own copy to the sender's connection on its node", () => {
    const hub = new Hub();
    const inbox: string[] = [];
    hub.attach('u', peer('1', inbox));
    hub.attach('v', peer('2', inbox));
    const receive = createReceiver({ hub, nodeId: 'n1', log: silent });
    receive(message(7, { nodeId: 'n1', connectionId: '2', text: 'own7' }));
    // Sent from another node: connection ids are only unique per node.
    receive(message(8, { nodeId: 'n2', connectionId: '2', text: 'own8' }));
    expect(inbox).toEqual(['1:m7', '2:own7', '1:m8', '2:m8']);
  });
});

describe('SerialQueue', () => {
  it('runs tasks of one key in turn, keys in parallel, and survives a failed task', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => () =>
      new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          log.push(name);
          if (fail) reject(new Error(name));
          else resolve();
        }, ms),
      );
    const a1 = q.run('a', task('a1', 30, true));
    const a2 = q.run('a', task('a2', 1));
    const b1 = q.run('b', task('b1', 5));
    await expect(a1).rejects.toThrow('a1');
    await Promise.all([a2, b1]);
    expect(log).toEqual(['b1', 'a1', 'a2']);
    await q.idle();
  });
});

describe('MembersCache', () => {
  it('caches member lists, re-reads for an absent author, expires and invalidates', async () => {
    let now = 0;
    const db = new Map<string, string[]>([['c1', ['1', '2']]]);
    let reads = 0;
    const store = {
      members: async (id: string) => {
        reads++;
        return db.get(id) ?? [];
      },
    };
    const cache = new MembersCache({ store, maxEntries: 2, ttlMs: 1000, now: () => now });
    expect(await cache.get('c1')).toEqual(['1', '2']);
    expect(await cache.get('c1')).toEqual(['1', '2']);
    expect(reads).toBe(1);
    db.set('c1', ['1', '2', '3']);
    expect(await cache.ofMember('c1', '3')).toEqual(['1', '2', '3']);
    expect(reads).toBe(2);
    expect(await cache.ofMember('c1', '9')).toBeNull();
    // Unknown conversations are never cached: the id may be created later.
    expect(await cache.get('c404')).toEqual([]);
    db.set('c404', ['5']);
    expect(await cache.get('c404')).toEqual(['5']);
    now = 2000;
    db.set('c1', ['1']);
    expect(await cache.get('c1')).toEqual(['1']);
    cache.invalidate('c1');
    db.set('c1', ['1', '4']);
    expect(await cache.get('c1')).toEqual(['1', '4']);
    await cache.get('c404');
    db.set('c5', ['7']);
    await cache.get('c5');
    expect(cache.size).toBeLessThanOrEqual(2);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('does not keep a list read while a change was announced, nor cache a non-member\'s probe', async () => {
    const db = new Map<string, string[]>([['c1', ['1', '2']]]);
    let release!: () => void;
    let gate: Promise<void> | null = null;
    const store = {
      members: async (id: string) => {
        const snapshot = db.get(id) ?? [];
        if (gate !== null) await gate;
        return snapshot;
      },
    };
    const cache = new MembersCache({ store, maxEntries: 10, ttlMs: 60_000 });
    gate = new Promise((r) => (release = r));
    const reading = cache.get('c1');
    // The change lands while the read is under way: the old list is answered once, not kept.
    db.set('c1', ['1']);
    cache.invalidate('c1');
    release();
    expect(await reading).toEqual(['1', '2']);
    gate = null;
    expect(await cache.get('c1')).toEqual(['1']);
    expect(await cache.ofMember('c2', '1')).toBeNull();
    db.set('c2', ['5', '6']);
    expect(await cache.ofMember('c2', '1')).toBeNull();
    expect(cache.size).toBe(1);
  });
});

describe('RateLimiter', () => {
  it('allows a burst, refills over time and counts strikes in a row', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 3, () => now);
    expect([limiter.take(), limiter.take(), limiter.take()]).toEqual([true, true, true]);
    expect(limiter.take()).toBe(false);
    expect(limiter.take()).toBe(false);
    expect(limiter.strikes).toBe(2);
    now += 100;
    expect(limiter.take()).toBe(true);
    expect(limiter.strikes).toBe(0);
  });
});
