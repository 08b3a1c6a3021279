/**
 * The WebSocket side of the HTTP server: upgrades on `/` and `/socket` (within MAX_CONNECTIONS),
 * frame decoding and dispatch, the ping/pong heartbeat and the shutdown drain. ws shares Fastify's
 * http.Server (`noServer`), and enforces MAX_FRAME_BYTES itself through `maxPayload` (close 1009).
 * Every connection's deadlines run on one clock (deadlines.ts). Every refused upgrade, ours or
 * ws's, is answered with the HTTP envelope (spec §3).
 */
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Chat } from '../core/chat.js';
import type { Log } from '../core/log.js';
import { AppError, type ErrorCode, httpStatus, toAppError } from '../errors.js';
import { rawAnswer } from '../http/envelope.js';
import type { Metrics } from '../metrics.js';
import { CLOSE_SHUTDOWN } from '../protocol/close-codes.js';
import { decode } from '../protocol/codec.js';
import { Connection, type ConnectionContext, type ConnectionLimits } from './connection.js';
import { Deadlines } from './deadlines.js';
import { TextFrames } from './text-frames.js';
import { UserSlots } from './user-slots.js';
import { settleWithin, waitUntil } from './waits.js';
import { WriteBatches } from './write-batches.js';

export interface GatewayOptions extends ConnectionLimits {
  maxFrameBytes: number;
  heartbeatIntervalMs: number;
  /** Open connections on this node, signed in or not; more are refused at upgrade (503). */
  maxConnections: number;
  /** Signed-in connections per user on this node; more get ERROR RATE_LIMITED, then 4429. */
  maxConnectionsPerUser: number;
  /** How long shutdown lets requests in flight finish and clients answer the 1001 close. */
  shutdownTimeoutMs: number;
}

/** Methods a connection may use before it is signed in (spec §2.4). */
const PRE_AUTH_METHODS = new Set(['AUTHENTICATE', 'PING']);

/** Spec §2: upgrades are accepted on these paths only. */
const SOCKET_PATHS = new Set(['/', '/socket']);

/** After SHUTDOWN_TIMEOUT_MS, this long for terminated sockets to report and disconnects to be told. */
const HARD_DEADLINE_MS = 2000;

/** The WebSocket versions ws speaks, named in a refusal of any other (RFC 6455 §4.4). */
const SUPPORTED_VERSIONS = [13, 8];

/**
 * A socket that fails before ws holds it goes at once. One function for every socket (not a
 * closure each), taken off once ws has the socket: ws then has its own listener, and an idle
 * connection would otherwise carry a second one for its whole life.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

export class Gateway {
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #chat: Pick<Chat, 'handle' | 'disconnect' | 'flush'>;
  readonly #metrics: Metrics;
  readonly #log: Log;
  readonly #opts: GatewayOptions;
  readonly #clock: Deadlines;
  /** Shared by every connection of this gateway. */
  readonly #connectionContext: ConnectionContext;
  readonly #connections = new Map<WebSocket, Connection>();
  readonly #heartbeat: NodeJS.Timeout;
  /** Disconnects handed to the core and not yet finished; shutdown waits for them. */
  readonly #disconnects = new Set<Promise<void>>();
  #nextId = 0;
  #closing: Promise<void> | null = null;

  constructor(deps: { server: Server; chat: Pick<Chat, 'handle' | 'disconnect' | 'flush'>; metrics: Metrics; log: Log; options: GatewayOptions }) {
    this.#server = deps.server;
    this.#chat = deps.chat;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#opts = deps.options;
    this.#clock = new Deadlines({ onError: (err) => this.#log.error({ err }, 'a connection deadline failed') });
    this.#connectionContext = {
      limits: deps.options,
      clock: this.#clock,
      slots: new UserSlots(deps.options.maxConnectionsPerUser),
      writes: new WriteBatches(),
      frames: new TextFrames(),
      metrics: deps.metrics,
      log: deps.log,
    };
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.options.maxFrameBytes,
      clientTracking: false,
      // ws's default, relied on: a fan-out's frames are written whole, without extension bits (text-frames.ts).
      perMessageDeflate: false,
      // The codec checks UTF-8 itself and answers BAD_FRAME; ws would close with 1007, which spec §2.4 does not allow.
      skipUTF8Validation: true,
    });
    this.#wss.on('error', (err) => this.#log.error({ err }, 'websocket server error'));
    // ws checks the handshake itself (GET, `Upgrade: websocket`, Sec-WebSocket-Key, -Version,
    // -Protocol) and would answer a bad one in plain text; with a listener here it hands the
    // refusal over instead, so the answer is the envelope like every other.
    this.#wss.on('wsClientError', (err, socket, req) => {
      const version = Number(req.headers['sec-websocket-version']);
      const headers: Record<string, string> = SUPPORTED_VERSIONS.includes(version) ? {} : { 'Sec-WebSocket-Version': SUPPORTED_VERSIONS.join(', ') };
      this.#refuse(socket, 'INVALID_DATA', `not a valid WebSocket handshake: ${err.message}`, headers);
    });
    deps.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#heartbeat = setInterval(() => this.#beat(), deps.options.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** False from the moment shutdown begins; /readyz answers 503 from then on. */
  get accepting(): boolean {
    return this.#closing === null;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    // Node hands every request carrying `Upgrade` to this event, whatever it asks for; RFC 9110
    // §7.8 lets a server ignore an upgrade it does not speak and answer the request itself
    // (`curl --http2` asks for h2c on every http:// request, /healthz included).
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') return this.#serveWithoutUpgrade(req, socket);
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (!SOCKET_PATHS.has(path)) return this.#refuse(socket, 'NOT_FOUND', 'not found: WebSocket upgrades are served on / and /socket');
    if (!this.accepting) return this.#refuse(socket, 'UNAVAILABLE', 'the server is shutting down; connect again');
    // Counted before the handshake too, so a burst of upgrades cannot overshoot the cap.
    if (this.#connections.size >= this.#opts.maxConnections) {
      return this.#refuse(socket, 'UNAVAILABLE', 'this server holds as many connections as it may; connect again later');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', destroyOnError);
      this.#accept(ws, socket);
    });
  }

  /**
   * Gives a request that asked for another protocol than WebSocket to the HTTP side, as if it had
   * not asked. Node's parser stopped at its headers, so a body cannot be read: such a request is
   * refused, and the connection closes after the answer either way.
   */
  #serveWithoutUpgrade(req: IncomingMessage, socket: Duplex): void {
    if (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0) {
      return this.#refuse(socket, 'INVALID_DATA', 'a request with a body cannot ask for an Upgrade other than websocket; send it without');
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      socket.once('finish', () => socket.destroy());
      socket.end();
    });
    this.#server.emit('request', req, res);
  }

  /** Answers an upgrade that is not served with the envelope (spec §3), counts it, and closes the socket. */
  #refuse(socket: Duplex, code: ErrorCode, message: string, headers?: Record<string, string>): void {
    this.#metrics.errors.inc({ code });
    // As ws does: the socket goes once the answer is flushed, whether or not the peer closes its side.
    socket.once('finish', () => socket.destroy());
    socket.end(rawAnswer(httpStatus[code], message, headers));
  }

  #accept(ws: WebSocket, socket: Duplex): void {
    const conn = new Connection(String(++this.#nextId), ws, socket, this.#connectionContext);
    this.#connections.set(ws, conn);
    this.#metrics.connections.inc();
    // Its handshake began before shutdown did: it missed the drain, and there is nothing to drain.
    if (!this.accepting) conn.close(CLOSE_SHUTDOWN, 'server shutting down');
    ws.on('pong', this.#socketEvents.pong);
    ws.on('error', this.#socketEvents.error);
    ws.on('message', this.#socketEvents.message);
    ws.on('close', this.#socketEvents.close);
  }

  /**
   * The sockets' listeners: one set for every connection (ws calls them with the socket as
   * `this`), not four closures per connection, which an idle connection would carry for nothing.
   */
  readonly #socketEvents = ((gateway: Gateway) => ({
    pong(this: WebSocket): void {
      const conn = gateway.#connections.get(this);
      if (conn !== undefined) conn.answeredPing = true;
    },
    error(this: WebSocket, err: Error): void {
      gateway.#log.debug({ err, connectionId: gateway.#connections.get(this)?.id }, 'websocket error');
    },
    message(this: WebSocket, raw: Buffer, isBinary: boolean): void {
      const conn = gateway.#connections.get(this);
      if (conn !== undefined) gateway.#receive(conn, raw, isBinary);
    },
    close(this: WebSocket): void {
      const conn = gateway.#connections.get(this);
      if (conn !== undefined) gateway.#closed(this, conn);
    },
  }))(this);

  #closed(ws: WebSocket, conn: Connection): void {
    conn.closed();
    this.#connections.delete(ws);
    this.#metrics.connections.dec();
    // Presence waits for the frames in flight, so a send that was acked is not followed by a
    // stale USER_LEFT order. drained() never rejects, so the disconnect is always told.
    const done = conn
      .drained()
      .then(() => this.#chat.disconnect(conn))
      .catch((err: unknown) => this.#log.warn({ err, connectionId: conn.id }, 'disconnect failed'))
      .finally(() => this.#disconnects.delete(done));
    this.#disconnects.add(done);
  }

  #receive(conn: Connection, raw: Buffer, isBinary: boolean): void {
    // Frames ws had already read when the socket was paused for good (shutdown, flood) are dropped.
    if (!conn.accepting) return;
    const frame = decode(raw, isBinary);
    if (frame instanceof AppError) {
      // Undecodable frames are counted under their error code, so the label set stays bounded.
      this.#metrics.framesIn.inc({ method: frame.code === 'INVALID_DATA' && frame.context?.method !== undefined ? frame.context.method : frame.code });
      // Spec §2.4: before sign-in every method but AUTHENTICATE and PING is UNAUTHENTICATED, whatever
      // its data. Decided in the frame's turn, not on arrival: an AUTHENTICATE sent just before it
      // has then been handled, as it is for a valid frame.
      const refusal = (): AppError =>
        frame.code === 'INVALID_DATA' && conn.awaitingAuth && !PRE_AUTH_METHODS.has(frame.context?.method ?? '')
          ? new AppError('UNAUTHENTICATED', 'send AUTHENTICATE first', undefined, frame.context)
          : frame;
      // Through the same queue and rate limit as good frames: a flood of garbage is still a flood.
      conn.enqueue(() => conn.fail(refusal()), frame.context ?? {});
      return;
    }
    this.#metrics.framesIn.inc({ method: frame.method });
    // Every ERROR for this request, RATE_LIMITED included, names it (spec §2.2: method, requestId, clientMessageId).
    const context = {
      method: frame.method,
      requestId: frame.data.requestId,
      clientMessageId: frame.method === 'SEND_MESSAGE' ? frame.data.clientMessageId : undefined,
    };
    // When the frame arrived: a send that waited too long behind others is refused (overload policy).
    const receivedAt = performance.now();
    conn.enqueue(async () => {
      try {
        await this.#chat.handle(conn, frame, receivedAt);
      } catch (thrown) {
        const err = toAppError(thrown);
        if (err.code === 'INTERNAL') this.#log.error({ err: thrown, method: frame.method }, 'request failed');
        conn.fail(err.withContext(context));
      }
    }, context);
  }

  /**
   * ws heartbeat: a peer that did not answer the previous ping is dropped. Judged once this turn
   * of the event loop has read the sockets (setImmediate): after a turn of work longer than the
   * interval, the timer comes before that read, and the pongs that arrived meanwhile would count
   * as missing.
   */
  #beat(): void {
    setImmediate(this.#judgePeers);
  }

  readonly #judgePeers = (): void => {
    if (this.#closing !== null) return;
    for (const [ws, conn] of this.#connections) {
      // Paused for backpressure: its pong may be unread behind its frames, so it is not judged now.
      if (!conn.reading) continue;
      if (!conn.answeredPing) {
        ws.terminate();
        continue;
      }
      conn.answeredPing = false;
      ws.ping();
    }
  };

  /**
   * Shuts the gateway down without losing an acknowledgement (spec §2.3: the sender's MESSAGE_SENT
   * is the ack). In order: refuse upgrades and readiness; stop reading new frames; let the frames
   * already taken finish, so their replies are written; then close with 1001, which ws queues
   * after those replies; wait for the close handshakes. The steps share SHUTDOWN_TIMEOUT_MS; after
   * it, sockets still open are cut off and their disconnects get HARD_DEADLINE_MS more.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const deadline = Date.now() + this.#opts.shutdownTimeoutMs;
    clearInterval(this.#heartbeat);
    const conns = [...this.#connections.values()];
    for (const conn of conns) conn.drain();
    if (!(await settleWithin(deadline, Promise.all(conns.map((c) => c.drained()))))) {
      this.#log.warn({ connections: conns.length }, 'shutdown: requests still in flight at SHUTDOWN_TIMEOUT_MS');
    }
    // Acknowledgements published through another service (Redis) come back before the 1001.
    if (!(await settleWithin(deadline, this.#chat.flush()))) this.#log.warn({ connections: conns.length }, 'shutdown: published events still on their way at SHUTDOWN_TIMEOUT_MS');
    for (const conn of conns) conn.close(CLOSE_SHUTDOWN, 'server shutting down');
    await waitUntil(deadline, () => this.#connections.size === 0);
    for (const ws of this.#connections.keys()) ws.terminate();
    const hard = Date.now() + HARD_DEADLINE_MS;
    await waitUntil(hard, () => this.#connections.size === 0);
    if (!(await settleWithin(hard, Promise.all(this.#disconnects)))) {
      this.#log.warn({ pending: this.#disconnects.size }, 'shutdown: disconnects still pending at the hard deadline');
    }
    this.#clock.close();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
