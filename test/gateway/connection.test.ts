/**
 * One Connection over a real WebSocket pair (a ws server on port 0, a real client), without the
 * rest of the node: its frame queue survives a failing task (issue 7, defect 7), it pauses the
 * socket when too many frames wait, and a closed connection leaves nothing on the shared clock.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { Metrics } from '../../src/metrics.js';
import { Connection, type ConnectionLimits } from '../../src/transport/connection.js';
import { Deadlines } from '../../src/transport/deadlines.js';
import { TextFrames } from '../../src/transport/text-frames.js';
import { UserSlots } from '../../src/transport/user-slots.js';
import { WriteBatches } from '../../src/transport/write-batches.js';
import { TestClient } from '../support/client.js';

const LIMITS: ConnectionLimits = {
  authTimeoutMs: 60_000,
  maxBufferedBytes: 1 << 20,
  slowReaderGraceMs: 1000,
  rateLimitPerSec: 100_000,
  rateLimitBurst: 1000,
  rateLimitStrikes: 10,
};

interface Pair {
  conn: Connection;
  serverWs: WebSocket;
  client: TestClient;
  clock: Deadlines;
  slots: UserSlots;
  errors: unknown[];
  /** Every frame the server read, by its `n`, in order. */
  read: number[];
}

const servers: WebSocketServer[] = [];
const opened: TestClient[] = [];

afterEach(async () => {
  for (const c of opened.splice(0)) c.close();
  // Terminated, not closed: a paused server socket would not read the client's close frame.
  for (const s of servers) for (const ws of s.clients) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A server whose connection runs `handle` for each frame `{method, data: {n}}` through its queue. */
async function pair(handle: (p: Pair, n: number) => Promise<void> | void, limits: Partial<ConnectionLimits> = {}): Promise<Pair> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  const errors: unknown[] = [];
  const log = { debug() {}, info() {}, warn() {}, error: (obj: object) => errors.push((obj as { err: unknown }).err) };
  const clock = new Deadlines({ onError: (err) => errors.push(err) });
  const slots = new UserSlots(5);
  const accepted = new Promise<Pair>((resolve) => {
    wss.once('connection', (serverWs, req) => {
      const conn = new Connection('1', serverWs, req.socket, { limits: { ...LIMITS, ...limits }, clock, slots, writes: new WriteBatches(), frames: new TextFrames(), metrics: new Metrics({ defaultMetrics: false }), log });
      const p: Pair = { conn, serverWs, client, clock, slots, errors, read: [] };
      serverWs.on('message', (raw) => {
        const n = Number(JSON.parse(raw.toString()).data.n);
        p.read.push(n);
        conn.enqueue(() => handle(p, n), { method: 'PING' });
      });
      serverWs.on('close', () => conn.closed());
      resolve(p);
    });
  });
  const client = new TestClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
  opened.push(client);
  await client.opened;
  return accepted;
}

const pong = (p: Pair, n: number) => p.conn.send(JSON.stringify({ method: 'PONG', data: { requestId: String(n) } }), 'PONG');

describe('Connection frame queue (issue 7, defect 7)', () => {
  it('a task that rejects or throws is logged, the frames behind it still run, and drained() resolves', async () => {
    const p = await pair(async (p, n) => {
      if (n === 2) throw new Error('unexpected failure in an async task');
      if (n === 3) return Promise.reject(new Error('unexpected rejection'));
      pong(p, n);
    });
    // A task that throws before returning a promise at all.
    p.conn.enqueue(() => {
      throw new Error('synchronous failure');
    }, {});
    for (let n = 1; n <= 5; n++) p.client.send('PING', { n });
    // The fence: the PONG of the last frame proves every frame before it was handled.
    await p.client.next('PONG', (d) => d.requestId === '5');
    expect(p.client.all('PONG').map((f) => f.data.requestId)).toEqual(['1', '4', '5']);
    expect(p.errors.map((e) => (e as Error).message)).toEqual(['synchronous failure', 'unexpected failure in an async task', 'unexpected rejection']);
    await expect(p.conn.drained()).resolves.toBeUndefined();
  });

  it('a closed connection whose last task failed still drains, so its disconnect is told', async () => {
    const p = await pair(() => Promise.reject(new Error('the last task fails')));
    p.client.send('PING', { n: 1 });
    await vi.waitFor(() => expect(p.read).toEqual([1]));
    p.client.close();
    await p.client.closed;
    await vi.waitFor(() => expect(p.conn.phase).toBe('closed'));
    let disconnected = false;
    await p.conn.drained().then(() => (disconnected = true));
    expect(disconnected).toBe(true);
  });
});

describe('Connection inbound backpressure', () => {
  it('pauses the socket while too many frames wait and resumes it as they drain; none refused, order kept', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const p = await pair(async (p, n) => {
      await gate;
      pong(p, n);
    });
    for (let n = 1; n <= 16; n++) p.client.send('PING', { n });
    await vi.waitFor(() => expect(p.serverWs.isPaused).toBe(true));
    expect(p.conn.reading).toBe(false);
    // Sent while the server is not reading: TCP holds them.
    for (let n = 17; n <= 60; n++) p.client.send('PING', { n });
    open();
    await p.client.next('PONG', (d) => d.requestId === '60');
    expect(p.client.all('PONG').map((f) => Number(f.data.requestId))).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(p.client.all('ERROR')).toEqual([]);
    expect(p.serverWs.isPaused).toBe(false);
    expect(p.conn.reading).toBe(true);
  });

  it('drain() stops reading for good; frames taken before are still answered', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const p = await pair(async (p, n) => {
      await gate;
      pong(p, n);
    });
    for (let n = 1; n <= 3; n++) p.client.send('PING', { n });
    await vi.waitFor(() => expect(p.read).toEqual([1, 2, 3]));
    p.conn.drain();
    expect(p.conn.phase).toBe('draining');
    expect(p.serverWs.isPaused).toBe(true);
    open();
    await p.conn.drained();
    await p.client.next('PONG', (d) => d.requestId === '3');
    expect(p.client.all('PONG').map((f) => f.data.requestId)).toEqual(['1', '2', '3']);
    // Closing reads again, so the client's answer to the close frame completes the handshake.
    p.conn.close(1001, 'server shutting down');
    expect(await p.client.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  });
});

describe('Connection deadlines and slots', () => {
  it('a session that ends gives its deadlines and its user slot back', async () => {
    const p = await pair(() => {});
    expect(p.clock.size).toBe(1); // the sign-in deadline
    p.conn.signIn('42', Date.now() + 3_600_000);
    expect(p.clock.size).toBe(2); // and the token's exp
    p.client.close();
    await vi.waitFor(() => expect(p.conn.phase).toBe('closed'));
    expect(p.clock.size).toBe(0);
    // All five of user 42's slots are free again.
    for (let i = 0; i < 5; i++) expect(p.slots.take('42')).toBe(true);
    expect(p.slots.take('42')).toBe(false);
    expect(p.conn.userId).toBe('42'); // kept, so the core can be told who left
  });

  it('refuses a sign-in past MAX_CONNECTIONS_PER_USER with RATE_LIMITED and changes nothing, then refuses any other', async () => {
    const p = await pair(() => {});
    for (let i = 0; i < 5; i++) p.slots.take('7');
    expect(() => p.conn.signIn('7', null)).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    expect(p.conn.userId).toBeNull();
    expect(p.clock.size).toBe(1);
    // A second AUTHENTICATE queued behind the refused one must not start a session the core would hold forever.
    expect(() => p.conn.signIn('8', null)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(p.conn.userId).toBeNull();
  });

  it('refuses a sign-in that completes after the socket is gone (the core would hold a ghost)', async () => {
    const p = await pair(() => {});
    p.client.close();
    await vi.waitFor(() => expect(p.conn.phase).toBe('closed'));
    expect(() => p.conn.signIn('9', null)).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
    expect(p.conn.userId).toBeNull();
    expect(p.clock.size).toBe(0);
    expect(p.slots.take('9')).toBe(true); // no slot was taken
  });
});
