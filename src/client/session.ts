/**
 * A session over as many connections as it takes: signs in (and refreshes the sign-in before the
 * token's `exp`), reconnects with backoff, resumes from the highest message id seen, writes
 * unacknowledged sends again with their `clientMessageId`, and passes each server event on once
 * per message version. The public face is MassengerClient (client.ts); this is its machinery.
 */
import { Backoff } from './backoff.js';
import { Emitter } from './emitter.js';
import { MassengerError } from './errors.js';
import type { ClientRequests, Id, ServerEvents, ServerFrame } from './frames.js';
import { CLOSE_ABNORMAL, Link } from './link.js';
import type { Settings } from './options.js';
import { Requests, type Pending } from './requests.js';
import { SignIn, type Token } from './sign-in.js';
import { MessageVersions } from './versions.js';

/** idle → connecting → open ⇄ reconnecting → connecting …; closed is final. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StateChange {
  state: ConnectionState;
  /** reconnecting, closed: the close code that ended the last connection (1006: no close frame). */
  code?: number;
  reason?: string;
  /** reconnecting: the wait before the next attempt. */
  delayMs?: number;
}

/** The server's events (names as the contract spells them) and three of the client's own. */
export interface ClientEvents extends ServerEvents {
  state: StateChange;
  /** An INIT with `recovered: false`: more was missed than it could hold; reload the conversations. */
  reload: ServerEvents['INIT'];
  /** Signing in or refreshing failed; `fatal` when the client stopped because of it. */
  authFailed: { error: Error; fatal: boolean };
}

/** Close codes (docs/protocol.md) that change what comes next: a new token first; a longer wait; not that frame again. */
const CLOSE_AUTH = 4401;
const CLOSE_RATE = 4429;
const CLOSE_TOO_BIG = 1009;

export class Session {
  readonly #s: Settings;
  readonly events = new Emitter<ClientEvents>();
  readonly #requests: Requests;
  readonly #versions: MessageVersions;
  readonly #backoff: Backoff;
  readonly #signIn: SignIn;
  #state: ConnectionState = 'idle';
  #link: Link | null = null;
  #userId: Id | null = null;
  /** The AUTHENTICATE written on the current link and not yet answered. */
  #auth: { requestId: string; kind: 'connect' | 'refresh'; token: Token } | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #heldTimer: ReturnType<typeof setTimeout> | undefined;
  #firstInit: { promise: Promise<ServerEvents['INIT']>; resolve: (d: ServerEvents['INIT']) => void; reject: (e: Error) => void } | null = null;
  #nextRequestId = 0;

  constructor(s: Settings) {
    this.#s = s;
    this.#signIn = new SignIn(this.#s.token, this.#s.refreshBeforeExpMs);
    this.#requests = new Requests(this.#s.maxSendsInFlight);
    this.#versions = new MessageVersions(this.#s.dedupeCapacity, this.#s.lastMessageId ?? null);
    this.#backoff = new Backoff(this.#s.backoff);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The signed-in user's id, from the first INIT on. */
  get userId(): Id | null {
    return this.#userId;
  }

  /** The highest message id seen: where a reconnect resumes (keep it to resume a later session). */
  get lastMessageId(): Id | null {
    return this.#versions.lastMessageId;
  }

  /** Sends not yet acknowledged by the server (they are written again after a reconnect). */
  get pendingSends(): number {
    return this.#requests.unacknowledgedSends;
  }

  /** Starts connecting (once); resolves with the first INIT, rejects if the client stops before it. */
  connect(): Promise<ServerEvents['INIT']> {
    if (this.#firstInit === null) {
      let resolve!: (d: ServerEvents['INIT']) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<ServerEvents['INIT']>((res, rej) => ((resolve = res), (reject = rej)));
      // Handled here too, so an app that never awaits connect() gets no unhandled rejection on close().
      promise.catch(() => {});
      this.#firstInit = { promise, resolve, reject };
      if (this.#state === 'closed') reject(new MassengerError('CLOSED', 'the client is closed'));
    }
    if (this.#state === 'idle') void this.#open();
    return this.#firstInit.promise;
  }

  /** Closes for good: the connection ends with 1000 and every waiting request fails with CLOSED. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#stop(new MassengerError('CLOSED', 'the client was closed'), { state: 'closed', code: 1000, reason: 'closed by the client' });
  }

  /** Queues a request; it is written once signed in, and settles on its answer (requests.ts). */
  request<T>(method: Pending['method'], data: object, extra: { clientMessageId?: string; conversationId?: Id }, timeout = true): Promise<T> {
    if (this.#state === 'closed') return Promise.reject(new MassengerError('CLOSED', 'the client is closed'));
    const requestId = String(++this.#nextRequestId);
    const frame = JSON.stringify({ method, data: { ...data, requestId } });
    const bytes = frame.length * 3 <= this.#s.maxFrameBytes ? 0 : new TextEncoder().encode(frame).length;
    if (bytes > this.#s.maxFrameBytes) {
      return Promise.reject(new MassengerError('INVALID_DATA', `the ${method} frame would be ${bytes} bytes; at most ${this.#s.maxFrameBytes} are accepted`));
    }
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { requestId, method, text: frame, resolve: resolve as (v: never) => void, reject, written: false, ...extra };
      if (timeout) {
        const ms = this.#s.requestTimeoutMs;
        pending.timer = setTimeout(() => this.#requests.fail(requestId, new MassengerError('TIMEOUT', `no answer to ${method} within ${ms} ms`)), ms);
      }
      this.#requests.add(pending);
      this.#flush();
    });
  }

  /** Writes a frame now if signed in (TYPING: worth nothing later); false when it was not written. */
  writeNow(method: 'TYPING', data: ClientRequests['TYPING']): boolean {
    return this.#state === 'open' && this.#link !== null && this.#link.write(JSON.stringify({ method, data }));
  }

  #flush(): void {
    const link = this.#link;
    if (this.#state !== 'open' || link === null) return;
    const heldUntil = this.#requests.writeAll((frame) => link.write(frame));
    // A send refused for now (UNAVAILABLE, RATE_LIMITED) is written again when its delay is up.
    clearTimeout(this.#heldTimer);
    if (heldUntil !== null) this.#heldTimer = setTimeout(() => this.#flush(), Math.max(0, heldUntil - Date.now()));
  }

  async #open(): Promise<void> {
    this.#retryTimer = undefined;
    this.#setState({ state: 'connecting' });
    let token: Token;
    try {
      token = await this.#signIn.forConnect();
    } catch (err) {
      if (this.#state !== 'connecting') return;
      this.events.emit('authFailed', { error: asError(err), fatal: false });
      return this.#retry(CLOSE_ABNORMAL, 'the token source failed', false);
    }
    if (this.#state !== 'connecting') return; // closed while the token was on its way
    const link: Link = new Link(this.#s.WebSocket, this.#s.url, this.#s, {
      open: () => this.#authenticate(link, 'connect', token),
      frame: (frame) => this.#onFrame(link, frame),
      closed: (code, reason) => this.#onClosed(link, code, reason),
    });
    this.#link = link;
  }

  #authenticate(link: Link, kind: 'connect' | 'refresh', token: Token): void {
    const requestId = String(++this.#nextRequestId);
    const data: ClientRequests['AUTHENTICATE'] & { requestId: string } = { token: token.token, requestId };
    const resumeFrom = this.#versions.lastMessageId;
    // Contract §2.2: with lastMessageId, INIT brings what was stored meanwhile (missedMessages).
    if (kind === 'connect' && resumeFrom !== null) data.lastMessageId = resumeFrom;
    this.#auth = { requestId, kind, token };
    link.write(JSON.stringify({ method: 'AUTHENTICATE', data }));
  }

  #onFrame(link: Link, frame: ServerFrame): void {
    if (link !== this.#link) return;
    switch (frame.method) {
      case 'INIT':
        return this.#onInit(link, frame.data);
      case 'ERROR':
        if (this.#auth !== null && frame.data.requestId === this.#auth.requestId) return this.#onAuthError(frame.data);
        // An ERROR that fails a request reaches the app through that request's promise alone.
        if (this.#requests.answer(frame, this.#userId)) return this.#flush();
        return this.#emit(frame);
      case 'MESSAGE_SENT':
      case 'MESSAGE_EDITED':
      case 'MESSAGE_DELETED': {
        const fresh = this.#versions.offer(frame.data.message, frame.method === 'MESSAGE_SENT');
        if (this.#requests.answer(frame, this.#userId)) this.#flush();
        if (fresh) this.#emit(frame);
        return;
      }
      case 'MESSAGES':
        // A fetched page is old news for de-duplication, but says nothing about where to resume.
        for (const m of frame.data.messages) this.#versions.offer(m, false);
        this.#requests.answer(frame, this.#userId);
        return this.#emit(frame);
      default:
        this.#requests.answer(frame, this.#userId);
        return this.#emit(frame);
    }
  }

  #onInit(link: Link, data: ServerEvents['INIT']): void {
    const auth = this.#auth;
    this.#auth = null;
    if (auth !== null) this.#signIn.accepted(auth.token);
    const first = this.#versions.lastMessageId === null;
    let missed = data.missedMessages;
    if (missed !== undefined) {
      for (const m of missed) this.#requests.acknowledgeStored(m, data.userId);
      missed = missed.filter((m) => this.#versions.offer(m, true));
    }
    // The first INIT's last messages are the starting point: their live copies are not news. A later
    // INIT's (a resume, a refresh) are not recorded: one stored between that INIT's reads is in no
    // missedMessages and still comes live, and must be passed on then.
    if (first) for (const c of data.conversations) if (c.lastMessage !== null) this.#versions.offer(c.lastMessage, true);
    if (this.#versions.lastMessageId === null) this.#versions.cover('0');
    const init = missed === undefined ? data : { ...data, missedMessages: missed };
    if (auth?.kind !== 'refresh') {
      this.#userId = data.userId;
      link.signedIn();
      this.#backoff.reset();
      this.#setState({ state: 'open' });
    }
    this.#signIn.schedule(() => void this.#refresh());
    this.#emit({ method: 'INIT', data: init });
    if (data.recovered === false) this.events.emit('reload', init);
    this.#firstInit?.resolve(init);
    this.#flush();
  }

  #onAuthError(data: ServerEvents['ERROR']): void {
    const auth = this.#auth;
    this.#auth = null;
    const error = new MassengerError(data.code, data.message, { method: 'AUTHENTICATE' });
    if (auth?.kind === 'refresh') {
      // Contract §2.3: a refused refresh leaves the sign-in as it was; try again before exp.
      this.events.emit('authFailed', { error, fatal: false });
      return this.#signIn.schedule(() => void this.#refresh());
    }
    // The server closes with 4401 next; the close decides what follows.
    this.#signIn.refused();
    this.events.emit('authFailed', { error, fatal: !this.#signIn.renewable });
  }

  #onClosed(link: Link, code: number, reason: string): void {
    if (link !== this.#link) return;
    this.#link = null;
    this.#auth = null;
    this.#signIn.cancel();
    if (code === CLOSE_TOO_BIG) this.#requests.failLargestWritten(new MassengerError('INVALID_DATA', `the server closed with 1009: a frame this large is over its MAX_FRAME_BYTES (${reason})`));
    this.#requests.disconnected();
    if (this.#state === 'closed') return;
    if (code === CLOSE_AUTH) {
      if (!this.#signIn.renewable) {
        const error = new MassengerError('UNAUTHENTICATED', `the server ended the sign-in (4401 ${reason}); a fixed token cannot be renewed, so pass a token function`);
        this.events.emit('authFailed', { error, fatal: true });
        return this.#stop(error, { state: 'closed', code, reason });
      }
      this.#signIn.refused(); // a new token first (docs/protocol.md: reconnect only with a fresh token)
    }
    this.#retry(code, reason, code === CLOSE_RATE);
  }

  #retry(code: number, reason: string, rateLimited: boolean): void {
    const delayMs = this.#backoff.next(rateLimited);
    this.#setState({ state: 'reconnecting', code, reason, delayMs });
    this.#retryTimer = setTimeout(() => void this.#open(), delayMs);
  }

  /** Signs the live connection in again with a fresh token (contract §2.3), before exp. */
  async #refresh(): Promise<void> {
    const link = this.#link;
    if (link === null || this.#state !== 'open' || this.#auth !== null) return;
    let token: Token | null;
    try {
      token = await this.#signIn.forRefresh();
    } catch (err) {
      if (link === this.#link) this.events.emit('authFailed', { error: asError(err), fatal: false });
      token = null;
    }
    if (link !== this.#link || this.#auth !== null) return;
    if (token === null) return this.#signIn.schedule(() => void this.#refresh());
    this.#authenticate(link, 'refresh', token);
  }

  #stop(error: MassengerError, change: StateChange): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#heldTimer);
    this.#signIn.cancel();
    this.#setState(change);
    const link = this.#link;
    this.#link = null;
    link?.close(1000, 'client closed');
    this.#requests.failAll(error);
    this.#firstInit?.reject(error);
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.events.emit('state', change);
  }

  #emit(frame: ServerFrame): void {
    (this.events.emit as (event: string, data: unknown) => void).call(this.events, frame.method, frame.data);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
