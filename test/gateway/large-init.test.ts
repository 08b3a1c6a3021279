/**
 * Issue 7, defect 2: a client reading at full speed was closed with 4408 right after a large
 * INIT (1,000 missed messages of 4,000 emoji: 16 MB), because the slow-reader rule looked at the
 * buffer just after handing it one big frame; reconnecting with `lastMessageId` looped forever.
 * Now a reader is judged by how its buffer drains over SLOW_READER_GRACE_MS, and missedMessages
 * is cut to a byte budget (recovered: false), so recovery converges. MAX_BUFFERED_BYTES is set far
 * below one INIT here, so any judgement by frame size would close the reader. (The rule itself,
 * over a scripted buffer, is in outbound.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_MISSED_BYTES } from '../../src/core/chat.js';
import { backends, type BackendNode } from '../support/backends.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { expectAlive, freshUsers, nodeForSuite } from './helpers.js';

const MAX_BUFFERED_BYTES = 256 * 1024;
const SLOW_READER_GRACE_MS = 300;
const CONTENT = '😀'.repeat(4000);

for (const backend of await backends()) {
  describe(`gateway large INIT (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend, {
      MAX_BUFFERED_BYTES: String(MAX_BUFFERED_BYTES),
      SLOW_READER_GRACE_MS: String(SLOW_READER_GRACE_MS),
    });
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    /** Stores `n` messages of 4,000 emoji from `author` in a new conversation; returns their ids. */
    async function bigHistory(author: string, reader: string, n: number): Promise<string[]> {
      const conv = await createGroup(t.db, [author, reader]);
      const { rows } = await t.db.query<{ id: string }>(
        'INSERT INTO messages (conversation_id, author_id, content) SELECT $1, $2, $3 FROM generate_series(1, $4::int) RETURNING id',
        [conv, author, CONTENT, n],
      );
      return rows.map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
    }

    it('a reader at full speed gets its 16 MB of missed messages in INITs cut to a byte budget, is never closed, and converges', async () => {
      const [author, reader] = await freshUsers(t, 2);
      const ids = await bigHistory(author!, reader!, 1000);
      let lastMessageId = String(Number(ids[0]) - 1);
      const got: string[] = [];
      let rounds = 0;
      while (rounds++ < 20) {
        const { client, init } = await clients.signIn(reader!, { lastMessageId });
        // The fence: a 4408 for the INIT would be queued right behind it, before this PONG.
        await expectAlive(client);
        const missed = init.missedMessages as Array<{ id: string; content: string }>;
        expect(missed.length).toBeGreaterThan(0);
        expect(Buffer.byteLength(JSON.stringify(missed))).toBeLessThanOrEqual(MAX_MISSED_BYTES);
        expect(missed.every((m) => m.content === CONTENT)).toBe(true);
        got.push(...missed.map((m) => m.id));
        client.close();
        if (init.recovered === true) break;
        // Spec §2.2: recovered false means more were missed; continuing from the last one converges.
        lastMessageId = missed[missed.length - 1]!.id;
      }
      expect(got).toEqual(ids);
      // About 16 MB (in JSON) in INITs of at most MAX_MISSED_BYTES (2 MB): 8 full ones and a last.
      expect(rounds).toBeLessThanOrEqual(Math.ceil((ids.length * Buffer.byteLength(CONTENT)) / MAX_MISSED_BYTES) + 1);
    });
  });
}
