/**
 * The wire itself (spec §2, §2.4): upgrade paths, the {method, data} text frame both ways, every
 * kind of bad input (answered with ERROR, never closing the connection or touching another one),
 * the frame size limit (1009) and shutdown (1001). One node per backend with a small
 * MAX_FRAME_BYTES; shutdown is the last test because it stops that node.
 */
import WebSocket from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import type { TestClient } from '../support/client.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import { nodeForSuite, closedWithin, expectAlive, freshUsers, received, waitFor } from './helpers.js';

const MAX_FRAME_BYTES = 4096;

for (const backend of await backends()) {
  describe(`gateway protocol (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend, { MAX_FRAME_BYTES: String(MAX_FRAME_BYTES) });
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });

    /** The HTTP status a WebSocket upgrade on `path` is answered with (101 when it is accepted). */
    function upgradeStatus(path: string): Promise<number> {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(new URL(path, t.ws).toString());
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
          ws.terminate();
        });
        ws.on('error', (err) => reject(err));
      });
    }

    it('accepts upgrades on / and /socket (with or without a query) and answers 404 elsewhere', async () => {
      expect(await upgradeStatus('/')).toBe(101);
      expect(await upgradeStatus('/socket')).toBe(101);
      expect(await upgradeStatus('/socket?v=2')).toBe(101);
      expect(await upgradeStatus('/?token=x')).toBe(101);
      for (const path of ['/ws', '/socket/', '/socket/x', '/sockets', '/massenger']) expect(await upgradeStatus(path), path).toBe(404);

      const [me] = await freshUsers(t, 1);
      for (const path of ['/', '/socket']) {
        const client = await clients.open(path);
        client.send('AUTHENTICATE', { token: await t.token(me!) });
        expect((await waitFor(client, 'INIT')).data.userId).toBe(me);
      }
    });

    it('every server frame is a UTF-8 text frame holding one JSON object {method, data}; a client may omit data', async () => {
      const [me, other] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [me!, other!]);
      const raw: Array<{ text: string; isBinary: boolean }> = [];
      const ws = new WebSocket(t.ws);
      ws.on('message', (data, isBinary) => raw.push({ text: data.toString('utf8'), isBinary }));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      try {
        ws.send('{"method":"PING"}');
        ws.send(JSON.stringify({ method: 'AUTHENTICATE', data: { token: await t.token(me!) } }));
        ws.send(JSON.stringify({ method: 'SEND_MESSAGE', data: { conversationId: conv, content: 'é😀', requestId: 'q' } }));
        ws.send(JSON.stringify({ method: 'FETCH_MESSAGES', data: { conversationId: conv } }));
        ws.send(JSON.stringify({ method: 'OPEN_CONVERSATION', data: { conversationId: conv } }));
        ws.send('not json');
        await waitUntil(() => raw.length >= 6, () => `6 frames, got ${raw.map((r) => r.text.slice(0, 30)).join(' | ')}`);
      } finally {
        ws.close();
      }
      const methods = raw.map((r) => JSON.parse(r.text).method);
      expect(methods[0]).toBe('PONG');
      expect(methods.slice(1).sort()).toEqual(['CONVERSATION_SEEN', 'ERROR', 'INIT', 'MESSAGES', 'MESSAGE_SENT'].sort());
      for (const { text, isBinary } of raw) {
        expect(isBinary).toBe(false);
        const frame = JSON.parse(text);
        expect(Object.keys(frame).sort()).toEqual(['data', 'method']);
        expect(typeof frame.method).toBe('string');
        expect(frame.data !== null && typeof frame.data === 'object' && !Array.isArray(frame.data)).toBe(true);
      }
      expect(JSON.parse(raw.find((r) => r.text.includes('MESSAGE_SENT'))!.text).data.message.content).toBe('é😀');
    });

    describe('bad input is answered with ERROR and harms nothing', () => {
      let me: string;
      let other: string;
      let conv: string;
      let client: TestClient;
      let bystander: TestClient;

      beforeAll(async () => {
        [me, other] = (await freshUsers(t, 2)) as [string, string];
        conv = await createGroup(t.db, [me, other]);
      });
      // A fresh pair per case, so each case starts from a clean connection.
      async function connect(): Promise<void> {
        client = await clients.online(me);
        bystander = await clients.online(other);
      }

      /** After a bad frame: the connection still works, and the other connection saw nothing of it. */
      async function expectUnharmed(): Promise<void> {
        await expectAlive(client);
        const ack = await client.request('SEND_MESSAGE', { conversationId: conv, content: 'still here' }, 'MESSAGE_SENT');
        expect(ack.method).toBe('MESSAGE_SENT');
        await waitFor(bystander, 'MESSAGE_SENT', (d) => d.message.id === ack.data.message.id);
        expect(received(bystander, 'ERROR')).toEqual([]);
        await expectAlive(bystander);
      }

      const badFrames: Array<[string, string | Buffer, boolean, string, Record<string, unknown>?]> = [
        ['not JSON', 'hello', false, 'BAD_FRAME'],
        ['truncated JSON', '{"method":"PING"', false, 'BAD_FRAME'],
        ['an empty frame', '', false, 'BAD_FRAME'],
        ['a JSON array', '[{"method":"PING"}]', false, 'BAD_FRAME'],
        ['a JSON number', '42', false, 'BAD_FRAME'],
        ['a JSON string', '"PING"', false, 'BAD_FRAME'],
        ['JSON null', 'null', false, 'BAD_FRAME'],
        ['an object without method', '{"data":{}}', false, 'BAD_FRAME'],
        ['a method that is not a string', '{"method":7,"data":{}}', false, 'BAD_FRAME'],
        ['a binary frame', Buffer.from('{"method":"PING","data":{}}'), true, 'BAD_FRAME'],
        ['an unknown method', '{"method":"DELETE_EVERYTHING","data":{"requestId":"u1"}}', false, 'UNKNOWN_METHOD', { method: 'DELETE_EVERYTHING', requestId: 'u1' }],
        ['a lower-case method', '{"method":"ping","data":{}}', false, 'UNKNOWN_METHOD', { method: 'ping' }],
        ['data that is an array', '{"method":"PING","data":[1]}', false, 'INVALID_DATA', { method: 'PING' }],
        ['data that is a string', '{"method":"SEND_MESSAGE","data":"hi"}', false, 'INVALID_DATA', { method: 'SEND_MESSAGE' }],
        ['data that is a number', '{"method":"FETCH_MESSAGES","data":5}', false, 'INVALID_DATA', { method: 'FETCH_MESSAGES' }],
        ['a requestId longer than 64', JSON.stringify({ method: 'PING', data: { requestId: 'r'.repeat(65) } }), false, 'INVALID_DATA', { method: 'PING' }],
        ['a requestId that is a number', '{"method":"PING","data":{"requestId":5}}', false, 'INVALID_DATA', { method: 'PING' }],
        ['a conversationId that is not an id', '{"method":"SEND_MESSAGE","data":{"conversationId":"abc","content":"x","requestId":"c1"}}', false, 'INVALID_DATA', { method: 'SEND_MESSAGE', requestId: 'c1' }],
        ['a conversationId that is an object', '{"method":"TYPING","data":{"conversationId":{}}}', false, 'INVALID_DATA', { method: 'TYPING' }],
        ['a negative conversationId', '{"method":"OPEN_CONVERSATION","data":{"conversationId":-1}}', false, 'INVALID_DATA', { method: 'OPEN_CONVERSATION' }],
        ['a fractional conversationId', '{"method":"OPEN_CONVERSATION","data":{"conversationId":1.5}}', false, 'INVALID_DATA', { method: 'OPEN_CONVERSATION' }],
        ['a conversationId beyond bigint', '{"method":"FETCH_MESSAGES","data":{"conversationId":"99999999999999999999"}}', false, 'INVALID_DATA', { method: 'FETCH_MESSAGES' }],
        ['a missing conversationId', '{"method":"TYPING","data":{}}', false, 'INVALID_DATA', { method: 'TYPING' }],
        ['a clientMessageId that is a number', '{"method":"SEND_MESSAGE","data":{"conversationId":"1","content":"x","clientMessageId":5}}', false, 'INVALID_DATA', { method: 'SEND_MESSAGE' }],
        ['a clientMessageId longer than 64', JSON.stringify({ method: 'SEND_MESSAGE', data: { conversationId: '1', content: 'x', clientMessageId: 'c'.repeat(65) } }), false, 'INVALID_DATA', { method: 'SEND_MESSAGE' }],
        ['a before that is not an id', '{"method":"FETCH_MESSAGES","data":{"conversationId":"1","before":"yesterday"}}', false, 'INVALID_DATA', { method: 'FETCH_MESSAGES' }],
        ['a token that is not a string (a failed refresh: the sign-in stays)', '{"method":"AUTHENTICATE","data":{"token":42}}', false, 'UNAUTHENTICATED', { method: 'AUTHENTICATE' }],
      ];
      for (const [name, frame, binary, code, context] of badFrames) {
        it(`${name} → ERROR ${code}`, async () => {
          await connect();
          client.raw(frame, binary);
          const error = await waitFor(client, 'ERROR');
          expect(error.data).toMatchObject({ code, message: expect.any(String), ...context });
          if (context?.requestId === undefined) expect(error.data.requestId).toBeUndefined();
          await expectUnharmed();
        });
      }

      it('bad frames before sign-in are answered too, and the connection can still sign in', async () => {
        const anonymous = await clients.open();
        anonymous.raw('nope');
        anonymous.raw(Buffer.from([0, 1, 2]), true);
        anonymous.raw('{"method":"NOPE"}');
        await waitUntil(() => received(anonymous, 'ERROR').length === 3, 'three ERROR frames');
        expect(received(anonymous, 'ERROR').map((f) => f.data.code)).toEqual(['BAD_FRAME', 'BAD_FRAME', 'UNKNOWN_METHOD']);
        anonymous.send('AUTHENTICATE', { token: await t.token(me) });
        expect((await waitFor(anonymous, 'INIT')).data.userId).toBe(me);
      });

      it('a frame of exactly MAX_FRAME_BYTES is accepted; one byte more closes with 1009, and only that connection', async () => {
        await connect();
        const frame = (size: number) => {
          const base = JSON.stringify({ method: 'PING', data: { requestId: 'big', pad: '' } });
          return JSON.stringify({ method: 'PING', data: { requestId: 'big', pad: 'x'.repeat(size - Buffer.byteLength(base)) } });
        };
        expect(Buffer.byteLength(frame(MAX_FRAME_BYTES))).toBe(MAX_FRAME_BYTES);
        client.raw(frame(MAX_FRAME_BYTES));
        expect((await waitFor(client, 'PONG', (d) => d.requestId === 'big')).data).toEqual({ requestId: 'big' });
        // A message whose content is within 4000 characters but whose frame is too big: the frame limit wins.
        client.send('SEND_MESSAGE', { conversationId: conv, content: '😀'.repeat(1100) });
        const { code } = await closedWithin(client);
        expect(code).toBe(1009);
        await expectAlive(bystander);
        expect(received(bystander, 'MESSAGE_SENT')).toEqual([]);
        const { rows } = await t.db.query<{ n: string }>("SELECT count(*) AS n FROM messages WHERE conversation_id = $1 AND content LIKE '😀%'", [conv]);
        expect(Number(rows[0]!.n)).toBe(0);
      });
    });

    // Stops the node: keep this the last test of the suite.
    it('shutdown closes every connection, signed in or not, with 1001', async () => {
      const [me] = await freshUsers(t, 1);
      const signedIn = await clients.online(me!);
      const anonymous = await clients.open('/socket');
      const closing = t.node.close();
      const [a, b] = await Promise.all([closedWithin(signedIn), closedWithin(anonymous)]);
      expect(a.code).toBe(1001);
      expect(b.code).toBe(1001);
      await closing;
      expect(await upgradeStatus('/').catch((err: Error) => err.message)).not.toBe(101);
    });
  });
}
