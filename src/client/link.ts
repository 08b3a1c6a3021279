/**
 * One WebSocket connection attempt, from opening to its one and only `closed` report: parses
 * frames, gives up on a connection that does not sign in within `connectTimeoutMs`, and pings on
 * an interval so a link that died without a close (a server frozen, a cable pulled) is noticed
 * within `heartbeatIntervalMs + heartbeatTimeoutMs` rather than whenever TCP gives up.
 */
import { SERVER_METHODS, type ServerFrame } from './frames.js';

/**
 * A WebSocket event handler. The parameter is `any` because each implementation types its own event
 * classes; the client reads only `data`, `code` and `reason` from them.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above: no one event type fits both
type EventHandler = (event: any) => void;

/**
 * What the client needs of a WebSocket: the browser's (and Node 22's) global WebSocket and the
 * `ws` package's both fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: EventHandler | null;
  onmessage: EventHandler | null;
  onclose: EventHandler | null;
  onerror: EventHandler | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface LinkTiming {
  connectTimeoutMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
}

export interface LinkHandlers {
  /** The socket is open: time to write AUTHENTICATE. */
  open(): void;
  frame(frame: ServerFrame): void;
  /** Reported exactly once per link, however it ended; 1006 when there was no close frame. */
  closed(code: number, reason: string): void;
}

const OPEN = 1;
/** No close frame was received (contract close codes are all sent by the server). */
export const CLOSE_ABNORMAL = 1006;
const HEARTBEAT_ID = 'heartbeat';
const HEARTBEAT_FRAME = JSON.stringify({ method: 'PING', data: { requestId: HEARTBEAT_ID } });
const METHODS: ReadonlySet<string> = new Set(SERVER_METHODS);

export class Link {
  readonly #ws: WebSocketLike;
  readonly #timing: LinkTiming;
  readonly #handlers: LinkHandlers;
  #done = false;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;

  constructor(WebSocket: WebSocketConstructor, url: string, timing: LinkTiming, handlers: LinkHandlers) {
    this.#timing = timing;
    this.#handlers = handlers;
    this.#ws = new WebSocket(url);
    this.#ws.onopen = () => handlers.open();
    this.#ws.onmessage = (event: { data: unknown }) => this.#receive(event.data);
    this.#ws.onclose = (event: { code?: number; reason?: string }) => this.#finish(event.code ?? CLOSE_ABNORMAL, event.reason ?? '');
    // The close event follows every error; a listener must exist (ws throws on an unheard 'error').
    this.#ws.onerror = () => {};
    this.#connectTimer = setTimeout(() => this.drop(`not signed in within ${timing.connectTimeoutMs} ms`), timing.connectTimeoutMs);
  }

  /** Writes a frame if the socket is open; false when it is not (the caller keeps the frame). */
  write(text: string): boolean {
    if (this.#done || this.#ws.readyState !== OPEN) return false;
    try {
      this.#ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Signed in: the connect deadline is met, and the heartbeat starts. */
  signedIn(): void {
    clearTimeout(this.#connectTimer);
    if (this.#heartbeat !== undefined || this.#done) return;
    this.#heartbeat = setInterval(() => {
      if (!this.write(HEARTBEAT_FRAME)) return;
      this.#deadline ??= setTimeout(() => this.drop(`no answer to PING within ${this.#timing.heartbeatTimeoutMs} ms`), this.#timing.heartbeatTimeoutMs);
    }, this.#timing.heartbeatIntervalMs);
  }

  /** Closes with a normal close and reports it at once, without waiting for the handshake. */
  close(code = 1000, reason = ''): void {
    this.#abandon(code, reason);
  }

  /**
   * Gives up on a link that looks dead. Its close handshake could take as long as the TCP timeout,
   * so the link is reported closed now (1006) and the socket left to finish on its own.
   */
  drop(reason: string): void {
    this.#abandon(undefined, reason);
  }

  #abandon(code: number | undefined, reason: string): void {
    if (this.#done) return;
    try {
      // The ws package can drop a dead socket at once; a browser's closes as best it can.
      const terminate = (this.#ws as { terminate?: () => void }).terminate;
      if (code === undefined && typeof terminate === 'function') terminate.call(this.#ws);
      else this.#ws.close(code, code === undefined ? undefined : reason);
    } catch {
      /* a socket still connecting may refuse some codes; it is being abandoned anyway */
    }
    this.#finish(code ?? CLOSE_ABNORMAL, reason);
  }

  #receive(raw: unknown): void {
    if (this.#done) return;
    // Any frame shows the link is alive.
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    let frame: unknown;
    try {
      frame = JSON.parse(String(raw));
    } catch {
      return; // the server sends only JSON text; anything else is not ours to act on
    }
    if (typeof frame !== 'object' || frame === null) return;
    const { method, data } = frame as { method?: unknown; data?: unknown };
    // Methods of a newer server are skipped, so a client keeps working as the protocol grows.
    if (typeof method !== 'string' || !METHODS.has(method) || typeof data !== 'object' || data === null) return;
    if (method === 'PONG' && (data as { requestId?: unknown }).requestId === HEARTBEAT_ID) return;
    this.#handlers.frame(frame as ServerFrame);
  }

  #finish(code: number, reason: string): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#deadline);
    this.#ws.onopen = null;
    this.#ws.onmessage = null;
    this.#ws.onclose = null;
    this.#handlers.closed(code, reason);
  }
}
