/**
 * Requests waiting for their answer, in the order they were made. A request is written once a
 * connection is signed in; its answer is found by `requestId` (contract §2: every direct reply
 * echoes it), or for the two answers that carry none, by what they are about. When a link drops,
 * sends stay to be written again with the same `clientMessageId` (the server stores each once),
 * while other written requests fail with DISCONNECTED, since whether they took effect is unknown.
 * A send refused with UNAVAILABLE or RATE_LIMITED stored nothing (contract §2.4), so it is written
 * again after a growing delay instead of failing; later sends wait behind it to keep their order.
 */
import { MassengerError } from './errors.js';
import type { ClientMethod, ErrorCode, Id, Message, ServerEvents, ServerFrame } from './frames.js';

/** Refusals of a send that stored nothing and may pass later: the send is written again. */
const RETRIED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNAVAILABLE', 'RATE_LIMITED']);
/** Delay before writing a refused send again: doubles per refusal from this, up to the maximum. */
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 10_000;

export interface Pending {
  readonly requestId: string;
  readonly method: Exclude<ClientMethod, 'AUTHENTICATE'>;
  /** The encoded frame, built once and written again as is after a reconnect. */
  readonly text: string;
  readonly resolve: (value: never) => void;
  readonly reject: (err: MassengerError) => void;
  /** SEND_MESSAGE: its id, so a copy of the stored message without requestId acknowledges it too. */
  readonly clientMessageId?: string;
  /** OPEN_CONVERSATION: answered by CONVERSATION_SEEN of this conversation by the user. */
  readonly conversationId?: Id;
  timer?: ReturnType<typeof setTimeout>;
  written: boolean;
  /** SEND_MESSAGE refused for now: how often, and not to be written again before this time (ms). */
  refusals?: number;
  notBefore?: number;
}

export class Requests {
  readonly #byId = new Map<string, Pending>();
  readonly #maxSendsInFlight: number;
  #sendsInFlight = 0;

  constructor(maxSendsInFlight: number) {
    if (!Number.isInteger(maxSendsInFlight) || maxSendsInFlight < 1) {
      throw new RangeError(`maxSendsInFlight must be a positive integer, got ${maxSendsInFlight}`);
    }
    this.#maxSendsInFlight = maxSendsInFlight;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Sends written or waiting to be, not yet acknowledged. */
  get unacknowledgedSends(): number {
    let n = 0;
    for (const p of this.#byId.values()) if (p.method === 'SEND_MESSAGE') n++;
    return n;
  }

  add(pending: Pending): void {
    this.#byId.set(pending.requestId, pending);
  }

  /**
   * Writes the requests not yet written, oldest first, until `write` refuses one (the socket is
   * no longer open). Sends in flight are bounded so a long outbox written again after a reconnect
   * does not run into the server's rate limit; the rest follow as acknowledgements come back.
   * Returns when a send held back after a refusal may be written, or null when none is.
   */
  writeAll(write: (text: string) => boolean): number | null {
    const now = Date.now();
    let heldUntil: number | null = null;
    for (const p of this.#byId.values()) {
      if (p.written) continue;
      const isSend = p.method === 'SEND_MESSAGE';
      if (isSend && (heldUntil !== null || this.#sendsInFlight >= this.#maxSendsInFlight)) continue;
      if (isSend && p.notBefore !== undefined && p.notBefore > now) {
        heldUntil = p.notBefore; // and every later send waits behind it
        continue;
      }
      if (!write(p.text)) return heldUntil;
      p.written = true;
      if (isSend) this.#sendsInFlight++;
    }
    return heldUntil;
  }

  /**
   * Settles the request a server frame answers, if any; true when the frame was such an answer.
   * `userId` is the signed-in user, whose own copies of a stored message acknowledge a send.
   */
  answer(frame: ServerFrame, userId: Id | null): boolean {
    const requestId = (frame.data as { requestId?: unknown }).requestId;
    let pending = typeof requestId === 'string' ? this.#byId.get(requestId) : undefined;
    if (pending === undefined) pending = this.#findByContent(frame, userId);
    if (pending === undefined) return false;
    switch (frame.method) {
      case 'ERROR': {
        const { code, message, ...context } = frame.data;
        if (pending.method === 'SEND_MESSAGE' && RETRIED.has(code)) {
          this.#holdBack(pending);
          return true;
        }
        this.#settle(pending).reject(new MassengerError(code, message, context));
        return true;
      }
      case 'MESSAGE_SENT':
      case 'MESSAGE_EDITED':
      case 'MESSAGE_DELETED':
        this.#settle(pending).resolve(frame.data.message as never);
        return true;
      case 'MESSAGES':
      case 'CONVERSATION_SEEN':
      case 'PONG':
        this.#settle(pending).resolve(frame.data as never);
        return true;
      default:
        return false;
    }
  }

  /** A send whose message INIT's missedMessages already holds (stored, its ack lost with the link). */
  acknowledgeStored(message: Message, userId: Id): void {
    if (message.author !== userId || message.clientMessageId === null) return;
    const pending = this.#sendWithClientId(message.clientMessageId);
    if (pending !== undefined) this.#settle(pending).resolve(message as never);
  }

  /** The link dropped: written sends are to be written again, other written requests fail. */
  disconnected(): void {
    this.#sendsInFlight = 0;
    for (const p of [...this.#byId.values()]) {
      if (!p.written) continue;
      if (p.method === 'SEND_MESSAGE') p.written = false;
      else this.#settle(p).reject(new MassengerError('DISCONNECTED', `${p.method} was written but the connection dropped before its answer`));
    }
  }

  /**
   * The server closed with 1009: a frame written on the link was over its MAX_FRAME_BYTES. The
   * largest one written is over it for sure (the culprit is, and nothing is larger), so that one
   * fails rather than being written again into the same close for ever.
   */
  failLargestWritten(err: MassengerError): void {
    let largest: Pending | undefined;
    for (const p of this.#byId.values()) if (p.written && (largest === undefined || bytes(p.text) > bytes(largest.text))) largest = p;
    if (largest !== undefined) this.#settle(largest).reject(err);
  }

  /** Fails one request (its timeout), wherever it is. */
  fail(requestId: string, err: MassengerError): void {
    const p = this.#byId.get(requestId);
    if (p !== undefined) this.#settle(p).reject(err);
  }

  /** Fails every request (the client closed). */
  failAll(err: MassengerError): void {
    for (const p of [...this.#byId.values()]) this.#settle(p).reject(err);
  }

  #findByContent(frame: ServerFrame, userId: Id | null): Pending | undefined {
    if (frame.method === 'MESSAGE_SENT') {
      const { author, clientMessageId } = frame.data.message;
      return author === userId && clientMessageId !== null ? this.#sendWithClientId(clientMessageId) : undefined;
    }
    if (frame.method === 'ERROR' && frame.data.clientMessageId !== undefined) return this.#sendWithClientId(frame.data.clientMessageId);
    if (frame.method === 'CONVERSATION_SEEN' && frame.data.userId === userId) {
      const { conversationId } = frame.data as ServerEvents['CONVERSATION_SEEN'];
      for (const p of this.#byId.values()) if (p.written && p.method === 'OPEN_CONVERSATION' && p.conversationId === conversationId) return p;
    }
    return undefined;
  }

  #sendWithClientId(clientMessageId: string): Pending | undefined {
    for (const p of this.#byId.values()) if (p.method === 'SEND_MESSAGE' && p.clientMessageId === clientMessageId) return p;
    return undefined;
  }

  #holdBack(p: Pending): void {
    if (p.written) this.#sendsInFlight--;
    p.written = false;
    p.refusals = (p.refusals ?? 0) + 1;
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(p.refusals - 1, 16));
    p.notBefore = Date.now() + ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  /** Removes a request from the table; returns it so the caller settles it. */
  #settle(p: Pending): Pending {
    this.#byId.delete(p.requestId);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.method === 'SEND_MESSAGE' && p.written) this.#sendsInFlight--;
    return p;
  }
}

function bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}
