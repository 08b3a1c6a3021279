/**
 * Per-connection limits (spec §2.4): the rate limit (RATE_LIMITED, then 4429), the slow reader
 * (4408 once the unsent buffer passes MAX_BUFFERED_BYTES; TYPING dropped first above half of it)
 * and the heartbeat (a peer that does not answer pings is dropped). Small limits on dedicated
 * nodes; in each case another connection on the node is unaffected.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { befriend, createGroup } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { Clients, closedWithin, expectAlive, freshUsers, received, receivedAtLeast, waitFor } from './helpers.js';

const RATE_LIMIT_BURST = 10;
const RATE_LIMIT_PER_SEC = 5;
const RATE_LIMIT_STRIKES = 30;
const HEARTBEAT_INTERVAL_MS = 250;
const MAX_BUFFERED_BYTES = 65536;

for (const backend of await backends()) {
  describe(`gateway rate limit and heartbeat (${backend.name})`, () => {
    let t: BackendNode;
    const clients = new Clients(() => t);

    beforeAll(async () => {
      t = await backend.start({
        RATE_LIMIT_BURST: String(RATE_LIMIT_BURST),
        RATE_LIMIT_PER_SEC: String(RATE_LIMIT_PER_SEC),
        RATE_LIMIT_STRIKES: String(RATE_LIMIT_STRIKES),
        HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
      });
    });
    afterEach(() => clients.closeAll());
    afterAll(async () => {
      await clients.closeAll();
      await t?.close();
    });

    it('a burst past the limit gets RATE_LIMITED for the excess, with method and requestId; the connection recovers', async () => {
      const [me] = await freshUsers(t, 1);
      const client = await clients.online(me!);
      await sleep(1000 / RATE_LIMIT_PER_SEC + 50); // refill the token AUTHENTICATE took
      const n = RATE_LIMIT_BURST + 10;
      for (let i = 0; i < n; i++) client.send('PING', { requestId: `p${i}` });
      await waitUntil(() => received(client, 'PONG').length + received(client, 'ERROR').length >= n, 'an answer to every PING');
      const limited = received(client, 'ERROR');
      // The bucket may refill a token or two while the burst is read.
      expect(limited.length).toBeGreaterThanOrEqual(5);
      expect(limited.length).toBeLessThanOrEqual(10);
      for (const e of limited) expect(e.data).toMatchObject({ code: 'RATE_LIMITED', method: 'PING', requestId: expect.stringMatching(/^p\d+$/) });
      expect(received(client, 'PONG').map((f) => f.data.requestId).slice(0, RATE_LIMIT_BURST)).toEqual(
        Array.from({ length: RATE_LIMIT_BURST }, (_, i) => `p${i}`),
      );
      await sleep(1000 / RATE_LIMIT_PER_SEC + 50); // a token refills: the recovery under test takes time
      await expectAlive(client);
    });

    it('a client that keeps flooding is closed with 4429; another client is unaffected', async () => {
      const [flooder, other] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [flooder!, other!]);
      const bad = await clients.online(flooder!);
      const good = await clients.online(other!);
      let gone = false;
      void bad.closed.then(() => (gone = true));
      // Keep at it: batches faster than the bucket refills, until the server gives up (bounded).
      const deadline = Date.now() + 5000;
      for (let i = 0; !gone && Date.now() < deadline; ) {
        for (let j = 0; j < 20; j++, i++) bad.send('SEND_MESSAGE', { conversationId: conv, content: `flood ${i}`, clientMessageId: `f${i}` });
        await sleep(10);
      }
      const { code } = await closedWithin(bad, 1000);
      expect(code).toBe(4429);
      const errors = received(bad, 'ERROR');
      expect(errors.length).toBeGreaterThanOrEqual(RATE_LIMIT_STRIKES - 2);
      for (const e of errors) expect(e.data).toMatchObject({ code: 'RATE_LIMITED', method: 'SEND_MESSAGE', clientMessageId: expect.stringMatching(/^f\d+$/) });
      // What was accepted was stored and delivered; nothing refused was.
      const accepted = received(bad, 'MESSAGE_SENT').map((f) => f.data.message.clientMessageId);
      const refused = errors.map((e) => e.data.clientMessageId);
      expect(accepted.filter((c) => refused.includes(c))).toEqual([]);
      const { rows } = await t.db.query<{ client_message_id: string }>('SELECT client_message_id FROM messages WHERE conversation_id = $1', [conv]);
      expect(rows.map((r) => r.client_message_id).filter((c) => refused.includes(c))).toEqual([]);

      await expectAlive(good);
      const ack = await good.request('SEND_MESSAGE', { conversationId: conv, content: 'I am fine' }, 'MESSAGE_SENT');
      expect(ack.method).toBe('MESSAGE_SENT');
    });

    it('drops a peer that does not answer pings after about two heartbeat intervals; a peer that answers stays', async () => {
      const [mute, friend] = await freshUsers(t, 2);
      await befriend(t.db, mute!, friend!);
      const answering = await clients.online(friend!);
      let beats = 0;
      answering.ws.on('ping', () => beats++);
      const ws = new WebSocket(t.ws, { autoPong: false });
      ws.on('error', () => {});
      // Counted from the start: a heartbeat's ping can come with the handshake's answer.
      let pings = 0;
      ws.on('ping', () => pings++);
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send(JSON.stringify({ method: 'AUTHENTICATE', data: { token: await t.token(mute!) } }));
      const started = Date.now();
      const code = await Promise.race([closed, sleep(8 * HEARTBEAT_INTERVAL_MS, 'open')]);
      ws.terminate();
      expect(code).toBe(1006); // terminated, no close frame
      expect(pings).toBeGreaterThanOrEqual(1);
      // Dropped on the second beat after it stopped answering; the margin is for a busy machine.
      expect(Date.now() - started).toBeLessThanOrEqual(6 * HEARTBEAT_INTERVAL_MS);
      // The dropped peer was the user's last connection: friends hear USER_LEFT.
      expect((await waitFor(answering, 'USER_LEFT')).data).toEqual({ userId: mute });
      // Two more beats (each a ping the client answered): a peer that answers is never dropped.
      const seen = beats;
      await waitUntil(() => beats >= seen + 2, 'two more heartbeats', 8 * HEARTBEAT_INTERVAL_MS);
      await expectAlive(answering);
    });

    it('keeps a peer whose pong came while the event loop was stalled right after a heartbeat', async () => {
      const [user] = await freshUsers(t, 1);
      const answering = await clients.online(user!);
      // Work queued as a heartbeat's pings go out (setImmediate) runs for three intervals, three
      // times: the pongs arrive meanwhile, and the next heartbeat is due before the work ends.
      // Judged before the sockets are read again, every peer would be dropped.
      const ping = WebSocket.prototype.ping;
      let stalls = 0;
      let stalling = false;
      WebSocket.prototype.ping = function (this: WebSocket, ...args: Parameters<WebSocket['ping']>): void {
        ping.apply(this, args);
        if (stalling || stalls >= 3) return;
        stalling = true;
        setImmediate(() => {
          const until = Date.now() + 3 * HEARTBEAT_INTERVAL_MS;
          while (Date.now() < until);
          stalls++;
          stalling = false;
        });
      };
      try {
        await waitUntil(() => stalls === 3 || answering.ws.readyState !== WebSocket.OPEN, 'three stalls', 40 * HEARTBEAT_INTERVAL_MS);
      } finally {
        WebSocket.prototype.ping = ping;
      }
      expect(answering.ws.readyState, 'the peer was dropped').toBe(WebSocket.OPEN);
      await expectAlive(answering);
    });
  });

  describe(`gateway slow reader (${backend.name})`, () => {
    let t: BackendNode;
    const clients = new Clients(() => t);

    beforeAll(async () => {
      t = await backend.start({
        MAX_BUFFERED_BYTES: String(MAX_BUFFERED_BYTES),
        SLOW_READER_GRACE_MS: '200',
        RATE_LIMIT_BURST: '100000',
        RATE_LIMIT_PER_SEC: '100000',
      });
    });
    afterEach(() => clients.closeAll());
    afterAll(async () => {
      await clients.closeAll();
      await t?.close();
    });

    async function slowCloses(): Promise<number> {
      const text = await (await fetch(`${t.http}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('massenger_closes_total{') && l.includes('code="4408"'));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    }

    it('closes a client that stops reading with 4408 once its buffer passes MAX_BUFFERED_BYTES; TYPING goes first, messages never', async () => {
      const [sender, slowUser, reader] = await freshUsers(t, 3);
      const conv = await createGroup(t.db, [sender!, slowUser!, reader!]);
      const from = await clients.online(sender!);
      const slow = await clients.online(slowUser!);
      const fine = await clients.online(reader!);
      const closesBefore = await slowCloses();
      // Stop reading: the kernel buffers fill first (a few MB on loopback), then the server's.
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

      // 4000 four-byte characters: frames of about 16 KB. After each message, a TYPING.
      const content = '😀'.repeat(4000);
      let sent = 0;
      while ((await slowCloses()) === closesBefore) {
        expect(sent, 'the slow client was never closed').toBeLessThan(1500);
        for (let i = 0; i < 10; i++, sent++) {
          from.send('SEND_MESSAGE', { conversationId: conv, content, clientMessageId: `slow-${sent}` });
          from.send('TYPING', { conversationId: conv });
        }
        await receivedAtLeast(from, 'MESSAGE_SENT', sent, undefined, 10_000);
      }
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const { code } = await closedWithin(slow, 10_000);
      expect(code).toBe(4408);

      // What the slow client did get: every message in order up to the close, but not every
      // TYPING: some were dropped while its buffer was above half and later messages still came.
      const got = slow.frames.filter((f) => f.method === 'MESSAGE_SENT' || f.method === 'TYPING');
      const messages = got.filter((f) => f.method === 'MESSAGE_SENT').map((f) => Number(f.data.message.clientMessageId.slice(5)));
      expect(messages).toEqual(messages.map((_, i) => i));
      let droppedTypingThenMessage = false;
      for (let i = 0; i + 1 < got.length; i++) {
        if (got[i]!.method === 'MESSAGE_SENT' && got[i + 1]!.method === 'MESSAGE_SENT') droppedTypingThenMessage = true;
      }
      expect(droppedTypingThenMessage).toBe(true);
      // Before it became congested, each message was followed by its TYPING.
      expect(got.slice(0, 20).map((f) => f.method)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'MESSAGE_SENT' : 'TYPING')));

      // The reader and the sender were never affected.
      await receivedAtLeast(fine, 'MESSAGE_SENT', sent, undefined, 10_000);
      await receivedAtLeast(fine, 'TYPING', sent);
      expect(received(fine, 'MESSAGE_SENT')).toHaveLength(sent);
      expect(received(fine, 'TYPING')).toHaveLength(sent);
      await expectAlive(from);
      await expectAlive(fine);
    });
  });
}
