/**
 * What a connection writes (spec §2.4): INIT before anything else of a new session, TYPING dropped
 * first under backpressure, and the slow-reader rule.
 *
 *   writing ──hold──▶ holding ──release──▶ writing        (a first sign-in: INIT goes first)
 *   any ──stop──▶ stopped                                (the connection is closing)
 *
 * While writing, the socket's unsent buffer (ws `bufferedAmount`) sets the pressure: `clear`, then
 * `congested` above half of MAX_BUFFERED_BYTES (TYPING is dropped; messages never are), then `over`
 * above it. A turn's frames wait in that buffer until the turn ends (write-batches.ts), so TYPING
 * is judged by the level at the turn's first write. "Reads too slowly" is judged over time, not by
 * one write: a large frame (an INIT with many missed messages) puts the buffer over the limit at
 * once even for a client reading at full speed. Once over, the buffer is checked every
 * SLOW_READER_GRACE_MS; a reader whose buffer did not go down over that window is closed with 4408.
 * Since each check needs a lower level than the one before, the buffer never holds more than its
 * level when it crossed plus one window's inflow.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { Log } from '../core/log.js';
import type { Metrics } from '../metrics.js';
import type { ServerMethod } from '../protocol/frames.js';
import type { Deadline, Deadlines } from './deadlines.js';
import type { TextFrames } from './text-frames.js';
import type { Corkable, WriteBatches } from './write-batches.js';

/** How long after INIT a message it held is still expected live (publish lags commit by far less). */
const IN_INIT_MEMORY_MS = 5000;

type OutboundState = 'writing' | 'holding' | 'stopped';
type Pressure = 'clear' | 'congested' | 'over';

type HeldFrame = [text: string | Buffer, method: ServerMethod, messageId: string | undefined];

/**
 * The socket under a connection's WebSocket: corked for a turn (write-batches.ts), and handed a
 * fan-out's whole frames (text-frames.ts).
 */
export type OutboundSocket = Corkable & Pick<Duplex, 'write'>;

/** What every connection of a gateway shares (one object for all). */
export interface OutboundContext {
  clock: Deadlines;
  writes: WriteBatches;
  frames: TextFrames;
  limits: { maxBufferedBytes: number; slowReaderGraceMs: number };
  metrics: Pick<Metrics, 'countFrameOut'>;
  log: Log;
}

/** The connection written to. */
export interface OutboundOwner {
  /** Name the connection in log lines. */
  readonly id: string;
  readonly userId: string | null;
  /** The client reads too slowly (or a session's held frames passed the limit): close with 4408. */
  readerTooSlow(): void;
}

export class Outbound {
  readonly #c: OutboundContext;
  readonly #ws: Pick<WebSocket, 'send' | 'bufferedAmount' | 'readyState'>;
  /** The socket under #ws. */
  readonly #socket: OutboundSocket;
  readonly #owner: OutboundOwner;
  #state: OutboundState = 'writing';
  #pressure: Pressure = 'clear';
  #held: HeldFrame[] | null = null;
  #heldBytes = 0;
  /** Ids of INIT's missedMessages, for a moment after INIT: those are not sent again live. */
  #inInit: ReadonlySet<string> | null = null;
  #inInitEnd: Deadline | null = null;
  /** What the kernel had not taken at this turn's first write: the pressure the reader is judged by. */
  #backlog = 0;
  /** The next slow-reader check while `over`, and the buffer's level at the one before. */
  #check: Deadline | null = null;
  #overLevel = 0;

  constructor(context: OutboundContext, ws: Pick<WebSocket, 'send' | 'bufferedAmount' | 'readyState'>, socket: OutboundSocket, owner: OutboundOwner) {
    this.#c = context;
    this.#ws = ws;
    this.#socket = socket;
    this.#owner = owner;
  }

  // The deadlines' callbacks: one function each for every connection, called with its Outbound.
  static #inInitForgotten(out: Outbound): void {
    out.#inInit = null;
    out.#inInitEnd = null;
  }

  static #checkDue(out: Outbound): void {
    out.#judge();
  }

  get state(): OutboundState {
    return this.#state;
  }

  /** Queues every frame but INIT from now on, until release. */
  hold(): void {
    if (this.#state === 'writing') this.#state = 'holding';
  }

  /**
   * Writes `first` (INIT), then what was held, less the MESSAGE_SENT of messages in `sent`; with
   * null, drops what was held (the session did not start).
   */
  release(first: string | null, sent?: ReadonlySet<string>): void {
    if (this.#state !== 'holding') return;
    const held = this.#held;
    this.dropHeld();
    if (first === null) return;
    this.send(first, 'INIT');
    if (sent !== undefined && sent.size > 0) {
      // A message INIT holds may also be on its way live (stored just before INIT was read,
      // published just after): skip it for a moment, held or not.
      this.#inInit = sent;
      this.#c.clock.cancel(this.#inInitEnd);
      this.#inInitEnd = this.#c.clock.schedule(Date.now() + IN_INIT_MEMORY_MS, Outbound.#inInitForgotten, this);
    }
    for (const [text, method, messageId] of held ?? []) {
      // Writing may have closed the connection (held frames passed the limit): stop there.
      if (this.state === 'stopped') return;
      if (messageId !== undefined && this.#inInit?.has(messageId)) continue;
      this.#write(text, method);
    }
  }

  /** Forgets what was held and writes from now on (a session that ends before its INIT went out). */
  dropHeld(): void {
    if (this.#state === 'holding') this.#state = 'writing';
    this.#held = null;
    this.#heldBytes = 0;
  }

  /** The hot path of every fan-out: no allocation here beyond what ws needs. */
  send(text: string | Buffer, method: ServerMethod, messageId?: string): void {
    if (this.#state === 'stopped') return;
    if (messageId !== undefined && this.#inInit !== null && this.#inInit.has(messageId)) return;
    this.#c.metrics.countFrameOut(method);
    if (this.#state === 'holding' && method !== 'INIT') {
      (this.#held ??= []).push([text, method, messageId]);
      this.#heldBytes += Buffer.byteLength(text);
      // Held frames are in this process's memory with no reader to judge yet: the limit applies as is.
      if (this.#heldBytes > this.#c.limits.maxBufferedBytes) this.#slow('held frames passed MAX_BUFFERED_BYTES before INIT');
      return;
    }
    this.#write(text, method);
  }

  /** Nothing more is written; the clock forgets this connection. */
  stop(): void {
    this.#state = 'stopped';
    this.#held = null;
    this.#heldBytes = 0;
    this.#inInit = null;
    this.#inInitEnd = this.#c.clock.cancel(this.#inInitEnd);
    this.#check = this.#c.clock.cancel(this.#check);
  }

  #write(text: string | Buffer, method: ServerMethod): void {
    const ws = this.#ws;
    const max = this.#c.limits.maxBufferedBytes;
    // The frames of this turn wait in the socket's buffer until its end (write-batches.ts), however
    // fast the reader: the pressure is what was left from before.
    if (this.#c.writes.gather(this.#socket)) this.#backlog = ws.bufferedAmount;
    if (this.#backlog > max / 2) {
      if (this.#pressure === 'clear') {
        this.#pressure = 'congested';
        this.#c.log.warn({ connectionId: this.#owner.id, userId: this.#owner.userId, buffered: this.#backlog }, 'slow reader: dropping TYPING events');
      }
      // Spec §2.4: cheap events go first under backpressure; messages never do.
      if (method === 'TYPING') return;
    } else if (this.#pressure === 'congested') {
      this.#pressure = 'clear';
    }
    if (typeof text === 'string') {
      ws.send(text);
    } else if (ws.readyState === WebSocket.OPEN) {
      // A Buffer is a fan-out's one encoding: its frame is built once and written whole to every
      // recipient. As ws.send does, nothing is written once the closing handshake has begun.
      this.#socket.write(this.#c.frames.of(text));
    }
    // This turn's gathered frames count here: at worst a reader that keeps up gets a check, which
    // finds its buffer drained.
    if (this.#pressure !== 'over' && ws.bufferedAmount > max) {
      this.#pressure = 'over';
      this.#overLevel = ws.bufferedAmount;
      this.#check = this.#c.clock.schedule(Date.now() + this.#c.limits.slowReaderGraceMs, Outbound.#checkDue, this);
    }
  }

  /** One slow-reader check, SLOW_READER_GRACE_MS after the previous one (see the header). */
  #judge(): void {
    this.#check = null;
    if (this.#state === 'stopped') return;
    const buffered = this.#ws.bufferedAmount;
    const max = this.#c.limits.maxBufferedBytes;
    if (buffered <= max) {
      this.#pressure = buffered > max / 2 ? 'congested' : 'clear';
      return;
    }
    if (buffered >= this.#overLevel) {
      this.#slow(`unsent buffer above MAX_BUFFERED_BYTES and not draining for ${this.#c.limits.slowReaderGraceMs} ms`);
      return;
    }
    this.#overLevel = buffered;
    this.#check = this.#c.clock.schedule(Date.now() + this.#c.limits.slowReaderGraceMs, Outbound.#checkDue, this);
  }

  #slow(why: string): void {
    this.#c.log.warn({ connectionId: this.#owner.id, userId: this.#owner.userId, buffered: this.#ws.bufferedAmount, why }, 'slow reader: closing with 4408');
    this.#owner.readerTooSlow();
  }
}
