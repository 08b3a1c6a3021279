/**
 * The whole frames a fan-out writes under ws (text-frames.ts), written to a real server socket and
 * read by a ws client over loopback: every payload length encoding of RFC 6455 §5.2 (7 bits, 16
 * bits, 64 bits), each a text message.
 */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { TextFrames } from '../../src/transport/text-frames.js';

let server: WebSocketServer;
let socket: Duplex;
let client: WebSocket;
const received: Array<{ text: string; binary: boolean }> = [];

beforeAll(async () => {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const accepted = new Promise<Duplex>((resolve) => server.once('connection', (_ws, req) => resolve(req.socket)));
  client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on('message', (data: Buffer, binary: boolean) => received.push({ text: data.toString('utf8'), binary }));
  socket = await accepted;
  await new Promise((resolve) => (client.readyState === WebSocket.OPEN ? resolve(null) : client.once('open', resolve)));
});

afterAll(async () => {
  client.terminate();
  await new Promise((resolve) => server.close(resolve));
});

/** Writes the frames to the server's socket; resolves with what the client read. */
async function deliver(frames: Buffer[]): Promise<Array<{ text: string; binary: boolean }>> {
  received.length = 0;
  for (const frame of frames) socket.write(frame);
  while (received.length < frames.length) await new Promise((resolve) => setTimeout(resolve, 5));
  return [...received];
}

describe('TextFrames', () => {
  it.each([1, 125, 126, 65_535, 65_536, 70_001])('frames a %i-byte payload as one text message a client reads whole', async (length) => {
    const payload = Buffer.from('😀'.repeat(Math.floor(length / 4)) + 'x'.repeat(length % 4));
    expect(payload.length).toBe(length);
    expect(await deliver([new TextFrames().of(payload)])).toEqual([{ text: payload.toString('utf8'), binary: false }]);
  });

  it("builds a payload's frame once: the same payload gets the same frame, another payload its own", async () => {
    const frames = new TextFrames();
    const one = Buffer.from('{"n":1}');
    const first = frames.of(one);
    expect(frames.of(one)).toBe(first);
    const second = frames.of(Buffer.from('{"n":2}'));
    expect(second).not.toBe(first);
    // Equal bytes in another Buffer are another payload: framed again, never a stale frame.
    const again = frames.of(Buffer.from('{"n":1}'));
    expect(again).not.toBe(first);
    expect((await deliver([first, second, again])).map((m) => m.text)).toEqual(['{"n":1}', '{"n":2}', '{"n":1}']);
  });
});
