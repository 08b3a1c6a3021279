/**
 * A node alone (bus/solo.ts), with real processes: the only node left routes nothing through
 * Redis, and a node that starts next to it serves nobody before the first one routes through
 * Redis again with its order gates and its users' presence up to date, so the newcomer's users see
 * the first node's users online and get every message at once, and the newcomer's messages are
 * not held at the gate.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { scrape } from '../support/metrics.js';
import { allGet, clusterAvailable, framesOf, tag, useCluster } from './helpers.js';

describe.runIf(clusterAvailable)('cluster: a node alone, and a node that joins it', () => {
  const cluster = useCluster({ nodes: 2 });
  let redis: Redis | null = null;
  afterAll(() => redis?.disconnect());

  it('the node left alone stops routing through Redis; a node that joins gets its messages at once, and its own are not held', async () => {
    const c = cluster();
    redis = new Redis(c.redis.url, { maxRetriesPerRequest: 1 });
    const first = c.nodes[0]!.nodeId;
    const [a, b] = (await Promise.all(['a', 'b'].map((n) => createUser(c.db, tag(n))))) as [string, string];
    const conversationId = await createGroup(c.db, [a, b]);

    await c.kill(1, 'SIGTERM');
    await waitUntil(async () => (await redis!.get('massenger:solo'))?.startsWith(`${first} `) === true, 'the first node to claim it is alone', 5000, 20);
    const a1 = (await c.signIn(0, a)).client;
    const sent = async (content: string) => {
      const reply = await a1.request('SEND_MESSAGE', { conversationId, content }, 'MESSAGE_SENT');
      return reply.data.message.id as string;
    };
    const alone = await sent(tag('alone'));
    expect((await scrape(c.nodes[0]!.http))('massenger_bus_alone')).toBe(1);

    // restart() resolves once the node answers /readyz: it has waited for the claim to go.
    await c.restart(1);
    expect(await redis.get('massenger:solo')).toBeNull();
    expect((await scrape(c.nodes[0]!.http))('massenger_bus_alone')).toBe(0);
    const { client: b2, init } = await c.signIn(1, b);
    // a signed in while its node was alone (presence kept it to itself); b's INIT finds a online.
    const conversation = (init.conversations as Array<{ id: string; users: Array<{ id: string; online: boolean }> }>).find((cv) => cv.id === conversationId);
    expect(conversation!.users.find((u) => u.id === a)!.online).toBe(true);
    const toB = await sent(tag('to b'));
    await allGet([b2], 'MESSAGE_SENT', (d) => d.message.id === toB);
    const fromB = await b2.request('SEND_MESSAGE', { conversationId, content: tag('from b') }, 'MESSAGE_SENT');
    const fromBId = fromB.data.message.id as string;
    await allGet([a1], 'MESSAGE_SENT', (d) => d.message.id === fromBId);

    const ids = (frames: ReturnType<typeof framesOf>) => frames.map((f) => f.data.message.id as string);
    expect(ids(framesOf(a1, 'MESSAGE_SENT'))).toEqual([alone, toB, fromBId]);
    expect(ids(framesOf(b2, 'MESSAGE_SENT'))).toEqual([toB, fromBId]);
    // The gate knew the first node's last message: nothing waited for a predecessor and was forced.
    expect(c.logs(100_000)).not.toContain('predecessor never published');
  }, 60_000);
});
