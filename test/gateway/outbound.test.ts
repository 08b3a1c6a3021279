/**
 * The slow-reader rule of outbound.ts (issue 7, defect 2): judged by how the unsent buffer drains
 * over SLOW_READER_GRACE_MS, not by one write. How full a real socket's buffer gets depends on the
 * kernel's buffers, which a test cannot set, so here the socket is a script of `bufferedAmount`
 * values (large-init.test.ts and limits.test.ts run the same rule over real sockets). Each "was not
 * closed" is proven by a later deadline on the same clock, which fires after every check before it.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Metrics } from '../../src/metrics.js';
import type { ServerMethod } from '../../src/protocol/frames.js';
import { Deadlines } from '../../src/transport/deadlines.js';
import { Outbound } from '../../src/transport/outbound.js';
import { TextFrames } from '../../src/transport/text-frames.js';
import { WriteBatches } from '../../src/transport/write-batches.js';

const MAX = 1000;
const GRACE_MS = 40;

/** One connection's Outbound; connections of one gateway share `frames`. */
function setup(frames = new TextFrames()) {
  const clock = new Deadlines({ tickMs: 5, onError: (err) => { throw err; } });
  const socket = {
    sent: [] as string[],
    bufferedAmount: 0,
    readyState: WebSocket.OPEN as WebSocket['readyState'],
    send(text: string) {
      this.sent.push(text);
      this.bufferedAmount += text.length;
    },
  };
  // Whole frames written under the WebSocket (a fan-out's shared bytes, text-frames.ts).
  const written: Buffer[] = [];
  const state = { slow: 0 };
  let corked = 0;
  const out = new Outbound(
    {
      clock,
      writes: new WriteBatches(),
      frames,
      limits: { maxBufferedBytes: MAX, slowReaderGraceMs: GRACE_MS },
      metrics: new Metrics({ defaultMetrics: false }),
      log: { debug() {}, info() {}, warn() {}, error() {} },
    },
    socket,
    // The socket under the WebSocket, which write-batches.ts corks for a turn.
    {
      get writableCorked() {
        return corked;
      },
      cork: () => void corked++,
      uncork: () => void corked--,
      write: (frame: Buffer) => {
        written.push(frame);
        socket.bufferedAmount += frame.length;
        return true;
      },
    },
    { id: '1', userId: null, readerTooSlow: () => state.slow++ },
  );
  /** Resolves after `windows` slow-reader checks could have run. */
  const after = (windows: number) => new Promise<void>((resolve) => clock.schedule(Date.now() + windows * GRACE_MS + 10, resolve));
  /** Runs `fn` at about `ms` from now, on the same clock. */
  const at = (ms: number, fn: () => void) => clock.schedule(Date.now() + ms, fn);
  return { clock, socket, written, out, state, after, at };
}

const frame = (bytes: number) => 'x'.repeat(bytes);
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('Outbound slow-reader rule', () => {
  it('one frame far above the limit does not close a reader whose buffer goes down', async () => {
    const { socket, out, state, after, at } = setup();
    out.send(frame(5 * MAX), 'INIT');
    expect(socket.bufferedAmount).toBe(5 * MAX);
    at(GRACE_MS / 2, () => (socket.bufferedAmount = 3 * MAX)); // reading, before the first check
    at(GRACE_MS + GRACE_MS / 2, () => (socket.bufferedAmount = 2 * MAX)); // and before the second
    at(2 * GRACE_MS + GRACE_MS / 2, () => (socket.bufferedAmount = 0));
    await after(4);
    expect(state.slow).toBe(0);
  });

  it('a reader whose buffer does not go down over a window is closed', async () => {
    const { out, state, after } = setup();
    out.send(frame(2 * MAX), 'MESSAGE_SENT');
    expect(state.slow).toBe(0); // not at the write
    await after(1);
    expect(state.slow).toBe(1);
  });

  it('a reader that drains, but slower than its traffic grows the buffer, is closed', async () => {
    const { socket, out, state, after, at } = setup();
    out.send(frame(2 * MAX), 'MESSAGE_SENT');
    // Each half window: it reads 300 bytes, and 400 more arrive.
    for (let i = 1; i <= 8; i++) {
      at((i * GRACE_MS) / 2, () => {
        socket.bufferedAmount -= 300;
        out.send(frame(400), 'MESSAGE_SENT');
      });
    }
    await after(3);
    expect(state.slow).toBe(1);
  });

  it('drops TYPING above half of the limit, never a message, and writes TYPING again once below', async () => {
    const { socket, out } = setup();
    socket.bufferedAmount = MAX / 2 + 1;
    const methods: ServerMethod[] = ['TYPING', 'MESSAGE_SENT', 'TYPING', 'MESSAGE_EDITED'];
    for (const m of methods) out.send(m, m);
    expect(socket.sent).toEqual(['MESSAGE_SENT', 'MESSAGE_EDITED']);
    socket.bufferedAmount = 0;
    // Judged by what was left at the turn's first write: the next turn sees the drained buffer.
    await nextTurn();
    out.send('TYPING', 'TYPING');
    expect(socket.sent).toEqual(['MESSAGE_SENT', 'MESSAGE_EDITED', 'TYPING']);
  });

  it('does not count a turn\'s own frames as pressure: a reader that keeps up gets every TYPING', async () => {
    const { socket, out } = setup();
    // Each frame stays in the socket's buffer until the turn ends, far past half of the limit.
    for (let i = 0; i < 4; i++) {
      out.send(frame(MAX / 3), 'MESSAGE_SENT');
      out.send('TYPING', 'TYPING');
    }
    expect(socket.sent.filter((t) => t === 'TYPING')).toHaveLength(4);
    expect(socket.bufferedAmount).toBeGreaterThan(MAX);
  });

  it('holds frames until INIT, then writes INIT first and skips what INIT already holds', () => {
    const { socket, out } = setup();
    out.hold();
    out.send('a', 'MESSAGE_SENT', '1');
    out.send('b', 'MESSAGE_SENT', '2');
    expect(socket.sent).toEqual([]);
    out.release('INIT', new Set(['1']));
    expect(socket.sent).toEqual(['INIT', 'b']);
    out.send('a again', 'MESSAGE_SENT', '1'); // published just after INIT was read
    expect(socket.sent).toEqual(['INIT', 'b']);
    out.stop();
    out.send('c', 'MESSAGE_SENT', '3');
    expect(socket.sent).toEqual(['INIT', 'b']);
  });

  it('writes a fan-out\'s shared bytes as one whole frame, framed once for every recipient, and nothing once closing', () => {
    const frames = new TextFrames();
    const a = setup(frames);
    const b = setup(frames);
    const bytes = Buffer.from('{"method":"MESSAGE_SENT"}');
    a.out.send(bytes, 'MESSAGE_SENT', '1');
    b.out.send(bytes, 'MESSAGE_SENT', '1');
    expect(a.socket.sent).toEqual([]);
    expect(a.written).toHaveLength(1);
    // A final text frame (0x81), unmasked, its length in one byte, then the payload as is.
    expect(a.written[0]).toEqual(Buffer.concat([Buffer.from([0x81, bytes.length]), bytes]));
    expect(b.written[0]).toBe(a.written[0]);
    expect(a.socket.bufferedAmount).toBe(2 + bytes.length);
    b.socket.readyState = WebSocket.CLOSING;
    b.out.send(bytes, 'MESSAGE_SENT', '2');
    expect(b.written).toHaveLength(1);
  });
});
