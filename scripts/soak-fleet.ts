/**
 * The soak's clients: one slot per user, each holding at most one WebSocket connection that signs
 * in and stays. The soak asks the fleet to chat (SEND_MESSAGE from random signed-in slots) and to
 * churn (close some connections cleanly, drop others without a close frame, and sign each in
 * again with lastMessageId), and reads its counters once per interval.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

export interface FleetOptions {
  /** The node's WebSocket URL. */
  url: string;
  /** A token per slot (slot i signs in as user i). */
  tokens: string[];
  /** The conversation slot i sends to. */
  conversationOf: string[];
  /** Connections opened but not yet signed in, at most; bounds the ramp's burst. */
  maxPendingSignIns: number;
}

/** What happened since the last `takeInterval()`, and totals where noted. */
export interface FleetInterval {
  sent: number;
  acked: number;
  /** MESSAGE_SENT frames received, the senders' own included. */
  delivered: number;
  /** ERROR frames by code and method, e.g. `UNAVAILABLE(SEND_MESSAGE)`. */
  errors: Record<string, number>;
  /** Connections the server closed or lost, by close code (1006: without a close frame). */
  unexpectedCloses: Record<string, number>;
  connectFailures: number;
  signIns: number;
  churned: number;
  /** Sends cut off by a churn close before their answer: not errors. */
  cutByChurn: number;
  ackP99Ms: number;
  signInP99Ms: number;
}

interface Slot {
  index: number;
  ws: WebSocket | null;
  signedIn: boolean;
  /** Set when the fleet closes this connection itself (churn or the end). */
  closingOnPurpose: boolean;
  openedAt: number;
  lastMessageId: string | null;
  /** requestId → sent at (performance.now()). */
  inFlight: Map<string, number>;
}

const RETRY_MS = 1000;
const CONTENT_PADDING = 'x'.repeat(100);

export class Fleet {
  readonly #o: FleetOptions;
  readonly #slots: Slot[];
  readonly #waiting: Slot[] = [];
  #pending = 0;
  #held = 0;
  #seq = 0;
  #stopped = false;
  #i: FleetInterval = Fleet.#empty();
  #ackMs: number[] = [];
  #signInMs: number[] = [];

  constructor(options: FleetOptions) {
    this.#o = options;
    this.#slots = options.tokens.map((_, index) => ({ index, ws: null, signedIn: false, closingOnPurpose: false, openedAt: 0, lastMessageId: null, inFlight: new Map() }));
  }

  static #empty(): FleetInterval {
    return { sent: 0, acked: 0, delivered: 0, errors: {}, unexpectedCloses: {}, connectFailures: 0, signIns: 0, churned: 0, cutByChurn: 0, ackP99Ms: 0, signInP99Ms: 0 };
  }

  /** Connections open and signed in right now. */
  get held(): number {
    return this.#held;
  }

  /** Opens every slot's connection, at most maxPendingSignIns at a time; `held` counts them as they sign in. */
  start(): void {
    for (const slot of this.#slots) this.#queue(slot);
  }

  /** Sends `count` messages, each from a random signed-in slot to its conversation. */
  chat(count: number): void {
    for (let k = 0; k < count; k++) {
      const slot = this.#randomSignedIn();
      if (slot === null) return;
      const requestId = `s${++this.#seq}`;
      slot.inFlight.set(requestId, performance.now());
      slot.ws!.send(JSON.stringify({ method: 'SEND_MESSAGE', data: { conversationId: this.#o.conversationOf[slot.index], content: `soak ${this.#seq} ${CONTENT_PADDING}`, requestId } }));
      this.#i.sent++;
    }
  }

  /** Replaces `count` random signed-in connections: half closed cleanly (1000), half dropped (no close frame). */
  churn(count: number): void {
    for (let k = 0; k < count; k++) {
      const slot = this.#randomSignedIn();
      if (slot === null) return;
      slot.closingOnPurpose = true;
      this.#i.churned++;
      if (k % 2 === 0) slot.ws!.close(1000);
      else slot.ws!.terminate();
    }
  }

  /** The counters since the last call, and resets them. */
  takeInterval(): FleetInterval {
    const taken = { ...this.#i, ackP99Ms: p99(this.#ackMs), signInP99Ms: p99(this.#signInMs) };
    this.#i = Fleet.#empty();
    this.#ackMs = [];
    this.#signInMs = [];
    return taken;
  }

  /** Closes every connection and waits (bounded) until they are closed. */
  async close(): Promise<void> {
    this.#stopped = true;
    const open = this.#slots.filter((s) => s.ws !== null);
    for (const slot of open) {
      slot.closingOnPurpose = true;
      slot.ws!.terminate();
    }
    const deadline = Date.now() + 5000;
    while (this.#slots.some((s) => s.ws !== null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  #randomSignedIn(): Slot | null {
    // A few random probes: cheap, and with most slots signed in almost always enough.
    for (let tries = 0; tries < 32; tries++) {
      const slot = this.#slots[Math.floor(Math.random() * this.#slots.length)]!;
      if (slot.signedIn && !slot.closingOnPurpose) return slot;
    }
    return null;
  }

  #queue(slot: Slot): void {
    if (this.#stopped) return;
    this.#waiting.push(slot);
    this.#openWaiting();
  }

  #openWaiting(): void {
    while (this.#pending < this.#o.maxPendingSignIns && this.#waiting.length > 0) this.#open(this.#waiting.shift()!);
  }

  #open(slot: Slot): void {
    this.#pending++;
    let pending = true;
    const settle = () => {
      if (!pending) return;
      pending = false;
      this.#pending--;
      this.#openWaiting();
    };
    const ws = new WebSocket(this.#o.url, { perMessageDeflate: false });
    slot.ws = ws;
    slot.closingOnPurpose = false;
    slot.openedAt = performance.now();
    let opened = false;
    /** AUTHENTICATE was answered with an ERROR (counted there): closed and tried again later. */
    let refused = false;
    ws.on('open', () => {
      opened = true;
      const data: Record<string, unknown> = { token: this.#o.tokens[slot.index] };
      if (slot.lastMessageId !== null) data.lastMessageId = slot.lastMessageId;
      ws.send(JSON.stringify({ method: 'AUTHENTICATE', data }));
    });
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { method: string; data: Record<string, any> };
      if (frame.method === 'INIT') {
        settle();
        slot.signedIn = true;
        this.#held++;
        this.#i.signIns++;
        this.#signInMs.push(performance.now() - slot.openedAt);
      } else if (frame.method === 'MESSAGE_SENT') {
        this.#i.delivered++;
        slot.lastMessageId = String(frame.data.message.id);
        this.#answered(slot, frame.data.requestId, true);
      } else if (frame.method === 'ERROR') {
        const code = `${String(frame.data.code)}(${String(frame.data.method ?? '')})`;
        this.#i.errors[code] = (this.#i.errors[code] ?? 0) + 1;
        this.#answered(slot, frame.data.requestId, false);
        if (!slot.signedIn && frame.data.method === 'AUTHENTICATE') {
          refused = true;
          ws.close(1000);
        }
      }
    });
    // 'close' always follows and counts what happened.
    ws.on('error', () => {});
    ws.on('close', (code) => {
      settle();
      if (slot.signedIn) this.#held--;
      slot.signedIn = false;
      slot.ws = null;
      if (slot.closingOnPurpose) this.#i.cutByChurn += slot.inFlight.size;
      else if (!opened) this.#i.connectFailures++;
      else if (!refused) this.#i.unexpectedCloses[code] = (this.#i.unexpectedCloses[code] ?? 0) + 1;
      slot.inFlight.clear();
      if (this.#stopped) return;
      // A churned slot signs in again at once; a lost one after a pause, so a dead node is not hammered.
      if (slot.closingOnPurpose) this.#queue(slot);
      else setTimeout(() => this.#queue(slot), RETRY_MS).unref();
    });
  }

  #answered(slot: Slot, requestId: unknown, ok: boolean): void {
    if (typeof requestId !== 'string') return;
    const sentAt = slot.inFlight.get(requestId);
    if (sentAt === undefined) return;
    slot.inFlight.delete(requestId);
    if (!ok) return;
    this.#i.acked++;
    this.#ackMs.push(performance.now() - sentAt);
  }
}

function p99(sample: number[]): number {
  if (sample.length === 0) return 0;
  const sorted = [...sample].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
}
