/**
 * Property-based fuzzing of the WebSocket protocol (spec §2) against a real node on each backend.
 * Each case opens a connection, signs in or not, and sends up to a dozen generated frames in one
 * go (frame-arbitraries.ts); a PING whose PONG comes back proves every earlier frame was handled.
 * The properties: each frame gets exactly the answer the contract prescribes (frame-oracle.ts),
 * never INTERNAL; a connection closes only as spec §2.4 says (4401, 1009) and with its code; and
 * the other member of the conversation, on a connection of their own, gets exactly the events the
 * frames caused, still answers PING and still chats. A second node with a small rate limit checks
 * that flooding it with the same frames ends in 4429 and nothing else.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import { TestClient } from '../support/client.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { closedWithin } from '../gateway/helpers.js';
import { frameCase, harmlessFrame, SIGN_IN, toWire, type FrameSpec } from './frame-arbitraries.js';
import { checkBystander, expectFrames, fence, fixture, type Fixture, replies, resolver, signedIn, write } from './frame-fixture.js';
import { fenceId } from './world.js';
import { expectFrame, MAX_FRAME_BYTES, wireBytes } from './frame-oracle.js';
import { viewOf } from './views.js';
import { fuzzParameters, fuzzTimeoutMs } from './settings.js';

/** Runs one case: the predicted answers, close and bystander events must be exactly what happened. */
async function runCase(f: Fixture, specs: FrameSpec[]): Promise<void> {
  const resolve = resolver(f);
  const wires = specs.map((s) => toWire(s, resolve));
  const conn = { userId: null, closed: false };
  const outcomes = wires.map((w) => expectFrame(w, conn, f.world));
  const client = new TestClient(f.t.ws);
  let failure: unknown = null;
  try {
    await client.opened;
    let closing = false;
    for (const [i, wire] of wires.entries()) {
      const outcome = outcomes[i]!;
      // Frames after one that closes the connection are sent too, and must be ignored; but one too
      // large would race that close with its own 1009.
      if (closing && wireBytes(wire).length > MAX_FRAME_BYTES) break;
      // ws closes with 1009 as soon as it reads the header of a frame too large: what was sent before must be answered first.
      if (outcome.alone) await fence(client);
      write(client, wire);
      closing ||= outcome.close !== undefined;
    }
    const close = outcomes.find((o) => o.close !== undefined)?.close;
    if (close === undefined) await fence(client);
    else expect((await closedWithin(client)).code, 'close code').toBe(close);
    const expected = outcomes.flatMap((o) => o.replies);
    const got = replies(client);
    expectFrames(got, expected, 'the answers');
    f.world.learn(got.filter((_, i) => expected[i]?.creates).map((frame) => frame.data.message.id as string));
  } catch (err) {
    failure = err;
  } finally {
    f.world.learn([]);
    client.close();
    await Promise.race([client.closed, closedWithin(client).catch(() => undefined)]);
  }
  // Checked even after a failure, so that this case's events are not taken for the next one's.
  try {
    await checkBystander(f, outcomes.flatMap((o) => o.bystander));
  } catch (err) {
    failure ??= err;
  }
  if (failure !== null) throw failure;
}

for (const backend of await backends()) {
  describe(`fuzzed frames (${backend.name})`, () => {
    let f: Fixture;
    beforeAll(async () => {
      // No rate limit here: the flood has its own node below.
      f = await fixture(backend, { RATE_LIMIT_PER_SEC: '1000000', RATE_LIMIT_BURST: '1000000' });
    });
    afterAll(async () => {
      f?.bystander.close();
      await f?.t.close();
    });

    it('regression: an invalid request sent right behind AUTHENTICATE is INVALID_DATA, not UNAUTHENTICATED (decided on arrival, before the sign-in was handled)', async () => {
      const client = await TestClient.open(f.t.ws);
      try {
        client.send('AUTHENTICATE', { token: f.tokens['token:me'] });
        client.send('EDIT_MESSAGE', { requestId: 'edit' });
        client.send('SEND_MESSAGE', { conversationId: f.group, content: ' ', requestId: 'send' });
        client.raw('{"method":"TYPING","data":[]}');
        await fence(client);
        expect(replies(client).map((r) => [r.method, r.data.code, r.data.requestId])).toEqual([
          ['INIT', undefined, undefined],
          ['ERROR', 'INVALID_DATA', 'edit'],
          ['ERROR', 'INVALID_DATA', 'send'],
          ['ERROR', 'INVALID_DATA', undefined],
        ]);
      } finally {
        client.close();
      }
      await checkBystander(f, []);
    });

    it(
      'every frame gets the answer the contract prescribes, never INTERNAL; closes are 4401 and 1009 only; the bystander gets exactly its events and still chats',
      async () => {
        await fc.assert(
          fc.asyncProperty(frameCase, (c) => runCase(f, c.signIn ? [SIGN_IN, ...c.frames] : c.frames)),
          fuzzParameters(backend.name === 'pglite' ? 160 : 200, 60_000),
        );
      },
      fuzzTimeoutMs(60_000),
    );
  });
}

/** The flood node's limits: a small bucket that refills slowly, so a burst of frames is refused in part. */
const BURST = 8;
const STRIKES = 4;

const floodBackend = (await backends()).at(-1)!;
describe(`a flood of fuzzed frames (${floodBackend.name})`, () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture(floodBackend, { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: String(BURST), RATE_LIMIT_STRIKES: String(STRIKES) });
    // Each case watches a bystander of its own: one kept open would run out of its bucket.
    f.bystander.close();
  });
  afterAll(async () => {
    await f?.t.close();
  });

  /**
   * One signed-in connection sends the frames in one go, then a PING. Each frame is answered in
   * turn with what the contract prescribes for it or with RATE_LIMITED (naming it); the first
   * ones are within the bucket; RATE_LIMIT_STRIKES refusals in a row close the connection with
   * 4429 after those answers, and a long enough flood must get there.
   */
  async function flood(specs: FrameSpec[]): Promise<void> {
    const resolve = resolver(f);
    const wires = specs.map((s) => toWire(s, resolve)).filter((w) => wireBytes(w).length <= MAX_FRAME_BYTES);
    const bystander = await signedIn(f.t, f.tokens['token:bystander']!);
    const client = await signedIn(f.t, f.tokens['token:me']!);
    try {
      const conn = { userId: f.me, closed: false };
      const predicted = wires.map((w) => expectFrame(w, conn, f.world).replies);
      expect(predicted.every((r) => r.length === 1), 'a harmless frame has one answer').toBe(true);
      for (const wire of wires) write(client, wire);
      const fenceRequestId = fenceId();
      client.send('PING', { requestId: fenceRequestId });
      // The fence is answered too (PONG, or RATE_LIMITED naming it), unless the flood closed the connection.
      const fenced = waitUntil(() => client.frames.some((r) => r.data.requestId === fenceRequestId), 'the fence');
      const closed = await Promise.race([client.closed, fenced.then(() => null)]);
      const all = client.frames.slice(1);
      const answers = all.filter((r) => r.data.requestId !== fenceRequestId);
      const views = answers.map((r, i) => viewOf(r, predicted[i]?.[0]?.page));
      const refusal = (v: Record<string, unknown>): Record<string, unknown> => {
        const method = v.method === 'PONG' ? 'PING' : v.method === 'MESSAGES' ? 'FETCH_MESSAGES' : v.for;
        return { method: 'ERROR', code: 'RATE_LIMITED', ...(method === undefined ? {} : { for: method }), ...(v.requestId === undefined ? {} : { requestId: v.requestId }) };
      };
      const refused = views.map((v) => v.code === 'RATE_LIMITED');
      views.forEach((v, i) => {
        const expected = predicted[i]![0]!.view;
        expect([expected, refusal(expected)], `answer ${i}`).toContainEqual(v);
      });
      // The sign-in took one token; a refill may add one.
      expect(refused.slice(0, BURST - 2), 'within the bucket').not.toContain(true);
      if (closed === null) {
        expect(answers.length, 'every frame answered').toBe(wires.length);
        expect(wires.length, 'a long flood is closed').toBeLessThan(BURST - 1 + 2 * STRIKES);
      } else {
        expect(closed.code).toBe(4429);
        const strikes = all.slice(-STRIKES).map((r) => r.data.code);
        expect(strikes, 'closed after refusals in a row, the fence\'s included').toEqual(Array(STRIKES).fill('RATE_LIMITED'));
      }
    } finally {
      client.close();
      await closedWithin(client).catch(() => undefined);
    }
    // The bystander, signed in all along, heard nothing of it and still chats.
    expect((await bystander.request('PING', {}, 'PONG')).method).toBe('PONG');
    const ack = await bystander.request('SEND_MESSAGE', { conversationId: f.group, content: 'still here' }, 'MESSAGE_SENT');
    expect(ack.method, JSON.stringify(ack.data)).toBe('MESSAGE_SENT');
    expect(bystander.frames.map((r) => r.method)).toEqual(['INIT', 'PONG', 'MESSAGE_SENT']);
    const m = ack.data.message;
    f.world.add({ id: m.id, conversationId: f.group, author: f.world.bystander, content: m.content, clientMessageId: null, deleted: false });
    bystander.close();
  }

  it(
    'each frame of a flood is answered in turn, as prescribed or RATE_LIMITED; flooding on ends in 4429 and nothing else; a bystander is unaffected',
    async () => {
      await fc.assert(fc.asyncProperty(fc.array(harmlessFrame, { minLength: 1, maxLength: 30 }), flood), fuzzParameters(80, 30_000));
    },
    fuzzTimeoutMs(30_000),
  );
});
