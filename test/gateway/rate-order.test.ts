/**
 * Rate limiting keeps the order of replies, and a connection closed for its rate (4429) still
 * gets the answer to every frame accepted before: a stored message is always acknowledged.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { nodeForSuite, closedWithin, freshUsers } from './helpers.js';

for (const backend of await backends()) {
  describe(`gateway rate limit, order of replies (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend, { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '5', RATE_LIMIT_STRIKES: '3' });
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    it('answers accepted frames first and in order, then the refusals, then closes 4429', async () => {
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      const client = await clients.online(a!);
      await sleep(1100); // refill the token AUTHENTICATE took
      for (let i = 0; i < 8; i++) client.send('SEND_MESSAGE', { conversationId: conv, content: `m${i}`, requestId: `m${i}` });
      expect((await closedWithin(client, 5000)).code).toBe(4429);
      const replies = client.frames.slice(1).map((f) => `${f.method}:${f.data.requestId}`);
      expect(replies).toEqual([
        ...[0, 1, 2, 3, 4].map((i) => `MESSAGE_SENT:m${i}`),
        ...[5, 6, 7].map((i) => `ERROR:m${i}`),
      ]);
      const { rows } = await t.db.query<{ content: string }>('SELECT content FROM messages WHERE conversation_id = $1 ORDER BY id', [conv]);
      expect(rows.map((r) => r.content)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    });
  });
}
