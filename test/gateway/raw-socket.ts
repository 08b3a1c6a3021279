/**
 * A WebSocket client written by hand over a TCP socket, for peers no library would be: one that
 * sends half a frame and trickles the rest (slowloris), or never answers a ping. It does the
 * RFC 6455 handshake, writes masked frames or parts of them, and parses what the server sends.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { waitUntil } from '../../scripts/support/wait.js';

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

export class RawSocket {
  readonly frames: ServerFrame[] = [];
  /** Resolves when the server ends or destroys the TCP connection. */
  readonly ended: Promise<void>;
  readonly #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #upgraded = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('error', () => {});
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
  }

  /** Connects to a `ws://host:port/` URL and completes the upgrade. */
  static async open(url: string): Promise<RawSocket> {
    const { hostname, port } = new URL(url);
    const socket = net.connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const raw = new RawSocket(socket);
    socket.write(
      `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await waitUntil(() => raw.#upgraded, 'the 101 answer on the raw socket');
    return raw;
  }

  /** A whole masked text frame holding this JSON. */
  sendJson(value: unknown): void {
    this.write(maskedFrame(Buffer.from(JSON.stringify(value))));
  }

  write(bytes: Buffer): void {
    this.#socket.write(bytes);
  }

  /** The text frames received so far, parsed. */
  json(): Array<{ method: string; data: Record<string, any> }> {
    return this.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString()));
  }

  /** The close code of the server's close frame, once one came. */
  get closeCode(): number | null {
    const close = this.frames.find((f) => f.opcode === 0x8);
    return close === undefined ? null : close.payload.readUInt16BE(0);
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #parse(): void {
    if (!this.#upgraded) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!this.#buffer.subarray(0, end).toString().startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${this.#buffer.toString()}`);
      this.#upgraded = true;
      this.#buffer = this.#buffer.subarray(end + 4);
    }
    for (;;) {
      if (this.#buffer.length < 2) return;
      let length = this.#buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.#buffer.length < 4) return;
        length = this.#buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.#buffer.length < 10) return;
        length = Number(this.#buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.#buffer.length < offset + length) return;
      this.frames.push({ opcode: this.#buffer[0]! & 0x0f, payload: Buffer.from(this.#buffer.subarray(offset, offset + length)) });
      this.#buffer = this.#buffer.subarray(offset + length);
    }
  }
}

/** A client frame (clients must mask, RFC 6455 §5.3); `declaredLength` may exceed the payload, for half a frame. */
export function maskedFrame(payload: Buffer, opts: { opcode?: number; declaredLength?: number } = {}): Buffer {
  const length = opts.declaredLength ?? payload.length;
  const header = length < 126 ? Buffer.from([0x80 | (opts.opcode ?? 0x1), 0x80 | length]) : Buffer.from([0x80 | (opts.opcode ?? 0x1), 0x80 | 126, length >> 8, length & 0xff]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([header, mask, body]);
}
