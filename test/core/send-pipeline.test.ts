/**
 * The send pipeline over a real embedded database: what arrives during a commit becomes one batch,
 * the bus gets each conversation's messages in stored order, a batch that cannot be committed
 * fails every send in it with nothing stored, and overload is answered, not queued.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../src/bus/memory.js';
import type { BusEvent } from '../../src/bus/bus.js';
import type { Client } from '../../src/core/chat.js';
import { SendPipeline, type SendPipelineOptions } from '../../src/core/send-pipeline.js';
import { PgliteDb } from '../../src/store/db-pglite.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';

/** A connection as the core sees it, keeping what it was sent. */
function client(id: string): Client & { inbox: string[] } {
  const inbox: string[] = [];
  return {
    id,
    inbox,
    userId: null,
    send: (text) => inbox.push(String(text)),
    signIn() {},
    signOut() {},
    hold() {},
    release() {},
  };
}

const defaults: SendPipelineOptions = { maxBatch: 500, maxQueued: 1000, maxWaitMs: 2000 };

describe('SendPipeline', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** One embedded database for the tests that do not close it (each starts in seconds). */
  let shared: { db: PgliteDb; store: SqlStore } | null = null;
  afterAll(async () => {
    await shared?.store.close();
  });

  async function setup(options: Partial<SendPipelineOptions> = {}, own = false) {
    let db: PgliteDb;
    let store: SqlStore;
    if (own || shared === null) {
      db = new PgliteDb();
      store = new SqlStore(db);
      await store.migrate();
      if (own) cleanups.push(() => store.close());
      else shared = { db, store };
    } else {
      ({ db, store } = shared);
    }
    const [a, b] = [await createUser(db, 'a'), await createUser(db, 'b')];
    const conversations = [await createGroup(db, [a, b]), await createGroup(db, [a, b])];
    const bus = new MemoryBus();
    const published: Extract<BusEvent, { type: 'message' }>[] = [];
    bus.subscribe((event) => {
      if (event.type === 'message') published.push(event);
    });
    const batches: number[] = [];
    const pipeline = new SendPipeline({ store, bus, nodeId: 'n1', options: { ...defaults, ...options }, onBatch: (size) => batches.push(size) });
    const send = (conversationId: string, authorId: string, content: string, receivedAt = performance.now(), clientMessageId: string | null = null) =>
      pipeline.send({
        client: client(`c-${content}`),
        input: { conversationId, authorId, content, clientMessageId },
        requestId: undefined,
        members: [a, b],
        receivedAt,
      });
    return { store, a, b, conversations, published, batches, pipeline, send };
  }

  it('stores what arrives during a commit as one batch and publishes each conversation in stored order', async () => {
    const { a, b, conversations, published, batches, send, store } = await setup();
    const [c1, c2] = conversations as [string, string];
    // The first send starts a commit at once; the 40 sent meanwhile wait for it and go together.
    await Promise.all(Array.from({ length: 41 }, (_, i) => send(i % 2 === 0 ? c1 : c2, i % 3 === 0 ? a : b, `m${i}`)));
    expect(batches).toEqual([1, 40]);
    expect(published).toHaveLength(41);
    for (const c of [c1, c2]) {
      const mine = published.filter((e) => e.conversationId === c);
      // Each message names the one before it: the bus receives the prevId chain in order.
      mine.forEach((e, i) => expect(e.prevId).toBe(i === 0 ? null : mine[i - 1]?.messageId));
      const stored = (await store.messages(c, { limit: 100 })).messages.map((m) => m.id);
      expect(mine.map((e) => e.messageId)).toEqual(stored);
    }
  });

  it('hands the next batch to the database before it publishes the one just stored, and keeps publishing in stored order', async () => {
    const { store, a, b, conversations } = await setup();
    const c1 = conversations[0] as string;
    const log: string[] = [];
    const recording = { appendMessages: (inputs: Parameters<SqlStore['appendMessages']>[0]) => (log.push(`store ${inputs.map((i) => i.content).join(',')}`), store.appendMessages(inputs)) };
    const bus = new MemoryBus();
    bus.subscribe((event) => {
      if (event.type === 'message') log.push(`publish ${/"content":"(m\d)"/.exec(event.text)?.[1]}`);
    });
    const pipeline = new SendPipeline({ store: recording, bus, nodeId: 'n1', options: defaults });
    const send = (content: string) => pipeline.send({ client: client(`c-${content}`), input: { conversationId: c1, authorId: a, content, clientMessageId: null }, requestId: undefined, members: [a, b], receivedAt: performance.now() });
    await Promise.all(['m0', 'm1', 'm2', 'm3'].map(send));
    // m0 went alone; m1 to m3 waited for its commit, and were on their way to the database before m0 was published.
    expect(log).toEqual(['store m0', 'store m1,m2,m3', 'publish m0', 'publish m1', 'publish m2', 'publish m3']);
  });

  it('answers every send of a batch that cannot be committed with the error, and stores nothing', async () => {
    const { a, conversations, published, send, store } = await setup({}, true);
    const c1 = conversations[0] as string;
    // The first send's statement is on its way to the database; the rest queue behind its commit,
    // and the database closes (after answering that statement) before their batch runs.
    const first = send(c1, a, 'first');
    const rest = Array.from({ length: 5 }, (_, i) => send(c1, a, `lost${i}`).then(() => 'stored', (err: { code?: string }) => err.code));
    await store.close();
    await first;
    expect(await Promise.all(rest)).toEqual(Array(5).fill('UNAVAILABLE'));
    expect(published.map((e) => e.messageId)).toHaveLength(1);
  });

  it('refuses a send that waited too long, or finds the queue full, with UNAVAILABLE and stores nothing', async () => {
    const { a, conversations, published, send, store } = await setup({ maxQueued: 3, maxWaitMs: 1000 });
    const c1 = conversations[0] as string;
    await expect(send(c1, a, 'stale', performance.now() - 5000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => send(c1, a, `q${i}`).then(() => 'stored', (err: { code?: string }) => err.code)));
    // The first goes straight into a commit; three fit the queue behind it; the rest are refused.
    expect(results).toEqual(['stored', 'stored', 'stored', 'stored', 'UNAVAILABLE', 'UNAVAILABLE']);
    const stored = (await store.messages(c1, { limit: 100 })).messages.map((m) => m.content);
    expect(stored).toEqual(['q0', 'q1', 'q2', 'q3']);
    expect(published).toHaveLength(4);
  });

  it('answers a repeated clientMessageId to its sender alone, with the original', async () => {
    const { a, conversations, published, send } = await setup();
    const c1 = conversations[0] as string;
    await Promise.all([send(c1, a, 'once', undefined, 'k'), send(c1, a, 'twice', undefined, 'k'), send(c1, a, 'thrice', undefined, 'k')]);
    expect(published.map((e) => e.text.includes('"content":"once"'))).toEqual([true]);
  });
});
