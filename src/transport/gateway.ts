/**
 * The WebSocket side of the HTTP server: upgrades on `/` and `/socket`, the authentication
 * deadline, frame decoding and dispatch, the ping/pong heartbeat and shutdown. ws shares Fastify's
 * http.Server (`noServer`), and enforces MAX_FRAME_BYTES itself through `maxPayload` (close 1009).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Chat } from '../core/chat.js';
import type { Log } from '../core/log.js';
import { AppError, toAppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { CLOSE_AUTH, CLOSE_SHUTDOWN } from '../protocol/close-codes.js';
import { decode } from '../protocol/codec.js';
import { Connection, type ConnectionLimits } from './connection.js';

export interface GatewayOptions extends ConnectionLimits {
  maxFrameBytes: number;
  heartbeatIntervalMs: number;
  /** How long shutdown waits for clients to answer the 1001 close before cutting them off. */
  shutdownTimeoutMs: number;
}

/** Methods a connection may use before it is signed in (spec §2.4). */
const PRE_AUTH_METHODS = new Set(['AUTHENTICATE', 'PING']);

/** Spec §2: upgrades are accepted on these paths only. */
const SOCKET_PATHS = new Set(['/', '/socket']);

export class Gateway {
  readonly #wss: WebSocketServer;
  readonly #chat: Chat;
  readonly #metrics: Metrics;
  readonly #log: Log;
  readonly #opts: GatewayOptions;
  readonly #connections = new Map<WebSocket, Connection>();
  readonly #alive = new WeakSet<WebSocket>();
  readonly #heartbeat: NodeJS.Timeout;
  /** Disconnects handed to the core and not yet finished; shutdown waits for them. */
  readonly #disconnects = new Set<Promise<void>>();
  #nextId = 0;
  #accepting = true;

  constructor(deps: { server: Server; chat: Chat; metrics: Metrics; log: Log; options: GatewayOptions }) {
    this.#chat = deps.chat;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#opts = deps.options;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.options.maxFrameBytes,
      clientTracking: false,
      // The codec checks UTF-8 itself and answers BAD_FRAME; ws would close with 1007, which spec §2.4 does not allow.
      skipUTF8Validation: true,
    });
    this.#wss.on('error', (err) => this.#log.error({ err }, 'websocket server error'));
    deps.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#heartbeat = setInterval(() => this.#beat(), deps.options.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (!this.#accepting || !SOCKET_PATHS.has(path)) {
      socket.end(this.#accepting ? 'HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
  }

  #accept(ws: WebSocket): void {
    const conn = new Connection({
      id: String(++this.#nextId),
      ws,
      limits: this.#opts,
      metrics: this.#metrics,
      log: this.#log,
    });
    this.#connections.set(ws, conn);
    this.#alive.add(ws);
    this.#metrics.connections.inc();
    ws.on('pong', () => this.#alive.add(ws));
    ws.on('error', (err) => this.#log.debug({ err, connectionId: conn.id }, 'websocket error'));
    ws.on('message', (raw: Buffer, isBinary: boolean) => this.#receive(conn, raw, isBinary));
    ws.on('close', () => {
      conn.closed();
      this.#connections.delete(ws);
      this.#metrics.connections.dec();
      // Presence waits for the frames in flight, so a send that was acked is not followed by a stale USER_LEFT order.
      const done = conn
        .drained()
        .then(() => this.#chat.disconnect(conn))
        .catch((err: unknown) => this.#log.warn({ err, connectionId: conn.id }, 'disconnect failed'))
        .finally(() => this.#disconnects.delete(done));
      this.#disconnects.add(done);
    });
  }

  #receive(conn: Connection, raw: Buffer, isBinary: boolean): void {
    const frame = decode(raw, isBinary);
    if (frame instanceof AppError) {
      // Undecodable frames are counted under their error code, so the label set stays bounded.
      this.#metrics.framesIn.inc({ method: frame.code === 'INVALID_DATA' && frame.context?.method !== undefined ? frame.context.method : frame.code });
      // Spec §2.4: before sign-in every method but AUTHENTICATE and PING is UNAUTHENTICATED, whatever its data.
      const err =
        frame.code === 'INVALID_DATA' && conn.state === 'awaiting-auth' && !PRE_AUTH_METHODS.has(frame.context?.method ?? '')
          ? new AppError('UNAUTHENTICATED', 'send AUTHENTICATE first', undefined, frame.context)
          : frame;
      // Through the same queue and rate limit as good frames: a flood of garbage is still a flood.
      conn.enqueue(async () => this.#fail(conn, err), err.context ?? {});
      return;
    }
    this.#metrics.framesIn.inc({ method: frame.method });
    // Every ERROR for this request, RATE_LIMITED included, names it (spec §2.2: method, requestId, clientMessageId).
    const context = {
      method: frame.method,
      requestId: frame.data.requestId,
      clientMessageId: frame.method === 'SEND_MESSAGE' ? frame.data.clientMessageId : undefined,
    };
    conn.enqueue(async () => {
      try {
        await this.#chat.handle(conn, frame);
      } catch (thrown) {
        const err = toAppError(thrown);
        if (err.code === 'INTERNAL') this.#log.error({ err: thrown, method: frame.method }, 'request failed');
        this.#fail(conn, err.withContext(context));
      }
    }, context);
  }

  /**
   * Answers a failed request. An AUTHENTICATE that failed on a connection not signed in also ends
   * it (spec §2.4: 4401 after the ERROR); a failed refresh leaves a live sign-in as it was.
   */
  #fail(conn: Connection, err: AppError): void {
    conn.sendError(err);
    if (err.context?.method === 'AUTHENTICATE' && err.code === 'UNAUTHENTICATED' && conn.state === 'awaiting-auth') {
      conn.close(CLOSE_AUTH, 'authentication failed');
    }
  }

  /** ws heartbeat: a peer that did not answer the previous ping is dropped. */
  #beat(): void {
    for (const [ws] of this.#connections) {
      if (!this.#alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.#alive.delete(ws);
      ws.ping();
    }
  }

  /**
   * Stops accepting, closes every socket with 1001, waits for their frames in flight and for the
   * close handshakes (cutting off clients that do not answer in time), so every disconnect has
   * been handed to the core when this resolves.
   */
  async close(): Promise<void> {
    this.#accepting = false;
    clearInterval(this.#heartbeat);
    const conns = [...this.#connections.values()];
    for (const conn of conns) conn.close(CLOSE_SHUTDOWN, 'server shutting down');
    await Promise.all(conns.map((c) => c.drained()));
    const deadline = Date.now() + this.#opts.shutdownTimeoutMs;
    while (this.#connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const ws of this.#connections.keys()) ws.terminate();
    while (this.#connections.size > 0) await new Promise((r) => setTimeout(r, 5));
    await Promise.all(this.#disconnects);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
