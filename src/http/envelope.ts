/**
 * The HTTP answer shape (spec §3): every JSON answer is `{"data": ..., "errors": null}` or
 * `{"data": null, "errors": "<message>"}`, errors included, so routes return `ok(...)` and throw
 * AppErrors, and this file turns everything else into the same envelope.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode, httpStatus } from '../errors.js';
import type { Metrics } from '../metrics.js';

/** A successful answer. */
export interface Ok<T> {
  data: T;
  errors: null;
}

/** A failed answer; `errors` is a message for people (the HTTP status carries the code). */
export interface Fail {
  data: null;
  errors: string;
}

/** Wraps a route's result: `return ok({ conversationId })`. */
export function ok<T>(data: T): Ok<T> {
  return { data, errors: null };
}

/** The envelope of a failed request. */
export function fail(message: string): Fail {
  return { data: null, errors: message };
}

/** Where unexpected errors go; a pino or Fastify logger fits. */
export interface ErrorLog {
  error(obj: object, msg: string): void;
}

interface Answer {
  status: number;
  code: ErrorCode;
  message: string;
}

/** Codes for the client errors Fastify and Node raise themselves (bad JSON, wrong media type, body too large...), for metrics. */
const codeByStatus: Partial<Record<number, ErrorCode>> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 429: 'RATE_LIMITED' };

function answerFor(error: unknown): Answer {
  if (error instanceof AppError) {
    // An INTERNAL message may name a query or a file: people get the generic text, the log the rest.
    const message = error.code === 'INTERNAL' ? 'internal error' : error.message;
    return { status: httpStatus[error.code], code: error.code, message };
  }
  const e = error as { validation?: unknown; statusCode?: unknown; message?: unknown } | null;
  if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
    // Schema validation: Fastify's message already names the field ("body/userIds must be array").
    if (e.validation !== undefined) return { status: 400, code: 'INVALID_DATA', message: e.message };
    // Fastify's own request errors carry a 4xx statusCode and a message safe to show.
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return { status: e.statusCode, code: codeByStatus[e.statusCode] ?? 'INVALID_DATA', message: e.message };
    }
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}

/**
 * A Fastify error handler answering the envelope: AppError codes map through `httpStatus`,
 * validation errors are 400, Fastify's request errors keep their 4xx status, and anything else is
 * a 500 `internal error` whose details go to `log` only. 5xx answers are logged; 4xx are the
 * client's business and are not.
 */
export function errorHandler(
  log: ErrorLog,
  metrics?: Pick<Metrics, 'errors'>,
): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (error, request, reply) => {
    const answer = answerFor(error);
    metrics?.errors.inc({ code: answer.code });
    if (answer.status >= 500) {
      log.error({ err: error, reqId: request.id, method: request.method, url: request.url }, 'HTTP request failed');
    }
    // RFC 6750 §3: a 401 for a Bearer-protected resource names the scheme.
    if (answer.status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply.code(answer.status).send(fail(answer.message));
  };
}

/**
 * Installs the envelope for errors, for unknown routes (404) and for HTTP/1.1 requests without
 * Host (400) on `app`. Call before routes are registered so encapsulated plugins inherit it.
 */
export function installErrorHandling(app: FastifyInstance, log: ErrorLog, metrics?: Pick<Metrics, 'errors'>): void {
  app.setErrorHandler(errorHandler(log, metrics));
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    metrics?.errors.inc({ code: 'NOT_FOUND' });
    // The path without its query string: enough to spot a typo, nothing echoed back from the query.
    const route = request.url.split('?', 1)[0];
    return reply.code(404).send(fail(`no route ${request.method} ${route}`));
  };
  app.setNotFoundHandler(notFound);
  app.addHook('onRequest', async (request, reply) => {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. Node would answer it itself, outside
    // the envelope, so the server is built with `requireHostHeader: false` and it is refused here.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new AppError('INVALID_DATA', 'an HTTP/1.1 request must carry a Host header');
    }
    // An unknown route is a 404 whatever its body: answered before Fastify would parse that body
    // and refuse it (400, 415) for a route that does not exist.
    if (request.is404) return notFound(request, reply);
  });
}

/**
 * Largest request line (path and query string included) plus headers, in bytes: Node's default
 * `maxHeaderSize`, set explicitly on the server so that a `--max-http-header-size` flag does not
 * change it and the 431 message stays true. A JWT in `Authorization` is about 1 KiB.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * A whole HTTP/1.1 answer carrying a failure envelope, for a raw socket that has no request or
 * reply object: a request Node could not parse, or a WebSocket upgrade that is refused. The
 * connection is closed after it. `headers` are extra header lines (name → value).
 */
export function rawAnswer(status: number, message: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify(fail(message));
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    extra +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** Node's own answers to requests it cannot parse (its `socketOnError`), in the envelope. */
function clientFailure(code: string | undefined): { status: number; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      // The request line counts too: a long path or query string lands here as well.
      return { status: 431, message: `the request line and headers must fit in ${MAX_HEADER_BYTES} bytes` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: 'chunk extensions are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'the request was not received in time' };
    default:
      return { status: 400, message: 'the request is not valid HTTP/1.1' };
  }
}

/**
 * Fastify's `clientErrorHandler`: Node emits `clientError` for a request it cannot parse (431 for a
 * request line or headers over MAX_HEADER_BYTES, 400 for malformed HTTP, 408 for a request not
 * complete within the server's request timeout). There is no request object, so the envelope is
 * written to the socket itself, which is then closed (as Node and Fastify do).
 */
export function clientErrorHandler(
  metrics?: Pick<Metrics, 'errors'>,
): (error: Error & { code?: string }, socket: Duplex) => void {
  return (error, socket) => {
    // A reset connection has no one to answer (Node's docs on 'clientError').
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const { status, message } = clientFailure(error.code);
    metrics?.errors.inc({ code: codeByStatus[status] ?? 'INVALID_DATA' });
    // As Node's own handler: no answer into a response already under way on this connection
    // (`_httpMessage` is Node's link from a socket to its current response).
    const current = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && current?.headersSent !== true) socket.write(rawAnswer(status, message));
    socket.destroy(error);
  };
}
