/**
 * Group commit (Store.appendMessages), run against every Db: a batch mixes conversations, keeps
 * each conversation's prevId chain exact within and across batches, answers duplicates inside one
 * batch with the original, and fails only the message that cannot be stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { AppendMessageInput, AppendOutcome, AppendResult, Db, Store } from '../../src/store/store.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import type { StoreUnderTest } from './store.js';

export function stored(outcome: AppendOutcome | undefined): AppendResult {
  if (outcome === undefined || outcome instanceof AppError) throw new Error(`expected a stored message, got ${String(outcome)}`);
  return outcome;
}

export function storeBatchContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`Store group commit: ${name}`, () => {
    let store: Store;
    let db: Db;
    let cleanup: () => Promise<void>;
    let n = 0;

    beforeAll(async () => {
      ({ store, db, cleanup } = await makeStore());
      await store.migrate();
    });
    afterAll(() => cleanup());

    const user = () => createUser(db, `batch${++n}`);
    const input = (conversationId: string, authorId: string, content: string, clientMessageId: string | null = null): AppendMessageInput => ({
      conversationId,
      authorId,
      content,
      clientMessageId,
    });

    it('stores a batch that mixes conversations, chaining each one in input order', async () => {
      const [a, b] = [await user(), await user()];
      const [c1, c2] = [await createGroup(db, [a, b]), await createGroup(db, [a, b])];
      // Conversation ids in descending order in the input: the batch must not depend on it.
      const before = stored((await store.appendMessages([input(c2, a, 'c2-0')]))[0]);
      const outcomes = await store.appendMessages([input(c2, b, 'c2-1'), input(c1, a, 'c1-1'), input(c2, a, 'c2-2'), input(c1, b, 'c1-2')]);
      const [c2m1, c1m1, c2m2, c1m2] = outcomes.map(stored);
      expect(outcomes.every((o) => !(o instanceof AppError) && o.created)).toBe(true);
      expect([c2m1, c2m2, c1m1, c1m2].map((r) => r?.message.content)).toEqual(['c2-1', 'c2-2', 'c1-1', 'c1-2']);
      expect(c2m1?.message.prevId).toBe(before.message.id);
      expect(c2m1?.prevCreatedAt).toEqual(before.message.createdAt);
      expect(c2m2?.message.prevId).toBe(c2m1?.message.id);
      expect(c1m1?.message.prevId).toBeNull();
      expect(c1m2?.message.prevId).toBe(c1m1?.message.id);
      // Each stored message names the members it must reach, as they were when it was stored.
      expect(c2m1?.members?.slice().sort()).toEqual([a, b].sort());
      expect(c2m2?.members?.slice().sort()).toEqual([a, b].sort());
      expect(c1m2?.members?.slice().sort()).toEqual([a, b].sort());
      expect(BigInt(c2m2?.message.id ?? 0) > BigInt(c2m1?.message.id ?? 0)).toBe(true);
      // Reads agree with what the batch answered, field for field.
      expect((await store.messages(c2, { limit: 10 })).messages).toEqual([before.message, c2m1?.message, c2m2?.message]);
      const conversation = await store.conversation(a, c1);
      expect(conversation?.lastMessage).toEqual(c1m2?.message);
      // b wrote the newest message of c1: it is read for b, unread for a.
      expect(conversation?.unread).toBe(true);
      expect((await store.conversation(b, c1))?.unread).toBe(false);
    });

    it('keeps prevId exact across concurrent batches of one conversation', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const batches = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.appendMessages([input(c, a, `x${i}`), input(c, b, `y${i}`), input(c, a, `z${i}`)])),
      );
      expect(batches.flat().every((o) => !(o instanceof AppError) && o.created)).toBe(true);
      const { messages } = await store.messages(c, { limit: 100 });
      expect(messages).toHaveLength(18);
      // Stored order is id order, and every message points at the one just before it.
      messages.forEach((m, i) => expect(m.prevId).toBe(i === 0 ? null : messages[i - 1]?.id));
      // What each batch answered (its times to the millisecond, as a read gives them) is what is read.
      const answered = batches.flat().map((o) => stored(o).message);
      answered.sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
      expect(messages).toEqual(answered);
    });

    it('answers a clientMessageId repeated inside one batch with the original', async () => {
      const [a, b] = [await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const outcomes = await store.appendMessages([input(c, a, 'one', 'k'), input(c, b, 'other', 'k'), input(c, a, 'again', 'k'), input(c, a, 'two')]);
      const [first, others, again, two] = outcomes.map(stored);
      expect(first?.created).toBe(true);
      expect(others?.created).toBe(true);
      expect(again).toEqual({ message: first?.message, created: false, prevCreatedAt: null, members: null });
      // The repeat took no place in the chain.
      expect(two?.message.prevId).toBe(others?.message.id);
      expect((await store.messages(c, { limit: 10 })).messages.map((m) => m.content)).toEqual(['one', 'other', 'two']);
    });

    it('fails only the messages that cannot be stored', async () => {
      const [a, b, outsider] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const outcomes = await store.appendMessages([
        input(c, a, 'kept'),
        input(c, outsider, 'not a member'),
        input('999999999', a, 'no such conversation'),
        input('abc', a, 'not an id'),
        // PostgreSQL text cannot hold NUL: the database refuses the whole statement, and the
        // store then stores the others one by one.
        input(c, b, 'nul \u0000 inside'),
        input(c, b, 'kept too'),
      ]);
      expect(outcomes.map((o) => (o instanceof AppError ? o.code : 'stored'))).toEqual(['stored', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'INVALID_DATA', 'stored']);
      const { messages } = await store.messages(c, { limit: 10 });
      expect(messages.map((m) => m.content)).toEqual(['kept', 'kept too']);
      expect(messages[1]?.prevId).toBe(messages[0]?.id);
    });

    it('names the members as they were when each message was stored', async () => {
      const [a, b, late] = [await user(), await user(), await user()];
      const c = await createGroup(db, [a, b]);
      const before = stored((await store.appendMessages([input(c, a, 'before')]))[0]);
      await db.query('INSERT INTO users_conversations (user_id, conversation_id, seen) VALUES ($1, $2, false)', [late, c]);
      const after = stored((await store.appendMessages([input(c, b, 'after')]))[0]);
      expect(before.members?.slice().sort()).toEqual([a, b].sort());
      expect(after.members?.slice().sort()).toEqual([a, b, late].sort());
    });
  });
}
