/**
 * The Fastify app (spec §3): envelope, error handling and routes. It owns no resources; build.ts
 * composes it with the core and the WebSocket gateway on the same http.Server. With METRICS_PORT,
 * `/metrics` is served by a second, metrics-only app instead (buildMetricsApp).
 */
import type { Duplex } from 'node:stream';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../auth/jwt.js';
import type { Directory } from '../core/directory.js';
import type { Membership } from '../core/membership.js';
import type { MessageChanges } from '../core/message-changes.js';
import type { Metrics } from '../metrics.js';
import { clientErrorHandler, errorHandler, fail, installErrorHandling, MAX_HEADER_BYTES, rawAnswer } from './envelope.js';
import { devRoutes, type DevSignIn } from './routes/dev.js';
import { massengerRoutes } from './routes/massenger.js';
import { memberRoutes } from './routes/members.js';
import { messageRoutes } from './routes/messages.js';
import { metricsRoute, type MetricsDeps } from './routes/metrics.js';
import { notificationRoutes } from './routes/notifications.js';
import { openApiOptions, openApiRoute } from './routes/openapi.js';
import { opsRoutes, type ReadinessCheck } from './routes/ops.js';
import { pageRoutes } from './routes/page.js';

/** Largest request body, in bytes: a startConversation of 256 ids or a notification fits many times over. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Time a client has to send a whole request, headers and body, in ms; Node then answers 408 and
 * closes. Fastify turns Node's own limit off, which would let a body trickling in a byte at a
 * time hold a connection forever. An upgraded WebSocket is not a request and is not affected.
 */
const REQUEST_TIMEOUT_MS = 30_000;

export interface AppDeps extends MetricsDeps {
  directory: Directory;
  changes: MessageChanges;
  membership: Membership;
  verifier: TokenVerifier;
  checks: ReadinessCheck[];
  internalApiToken: string | null;
  /** False when a separate metrics app (METRICS_PORT) serves `/metrics` instead of this one. */
  serveMetrics: boolean;
  /** The built chat page (dist/web) to serve at `/`; unset or null: no page. */
  pageRoot?: string | null;
  /** The development sign-in (`/dev/*`), only while no JWT key or secret is configured. */
  devSignIn?: DevSignIn | null;
  logger: FastifyBaseLogger;
}

/**
 * A Fastify instance whose every answer, from every layer, is the spec §3 envelope: routes and
 * their errors, unknown routes, URLs the router cannot decode, requests Node itself refuses
 * before Fastify sees them (issue 7, defect 5), requests without Host, and CONNECT.
 */
function envelopedFastify(logger: FastifyBaseLogger, metrics: Metrics): FastifyInstance {
  const onError = errorHandler(logger, metrics);
  const app = Fastify({
    loggerInstance: logger,
    // Spec §3: `/massenger` and `/Massenger` are the same.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // A gateway's HTTP side is mostly probes and scrapes: log errors, not every request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // A request without Host is refused in the envelope by installErrorHandling, not by Node.
    http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: REQUEST_TIMEOUT_MS, requireHostHeader: false },
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Fastify's default `coerceTypes: 'array'` would turn `{userIds: "2"}` into `["2"]`; spec §3
    // wants a 400 for a wrong shape. Scalars are still coerced (ids sent as numbers); numbers in a
    // query string are read by query.ts instead.
    ajv: { customOptions: { coerceTypes: true } },
    // Malformed percent-encoding (FST_ERR_BAD_URL) and over-long path parameters
    // (FST_ERR_MAX_PARAM_LENGTH, 414) are refused by the router before any handler runs.
    frameworkErrors: onError,
    // Requests Node cannot parse or did not receive in time: 431 (request line or headers too long), 400, 408.
    clientErrorHandler: clientErrorHandler(metrics),
  });
  // Node answers an `Expect:` it does not know with a bare 417 unless someone listens.
  app.server.on('checkExpectation', (_request, response) => {
    metrics.errors.inc({ code: 'INVALID_DATA' });
    const body = JSON.stringify(fail('only Expect: 100-continue is supported'));
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    response.end(body);
  });
  // Node hands CONNECT to a 'connect' listener, and without one drops the socket without a word.
  // No route takes it: the 404 of any unknown route.
  app.server.on('connect', (request: { url?: string }, socket: Duplex) => {
    metrics.errors.inc({ code: 'NOT_FOUND' });
    socket.on('error', () => socket.destroy());
    socket.once('finish', () => socket.destroy());
    socket.end(rawAnswer(404, `no route CONNECT ${request.url ?? ''}`));
  });
  installErrorHandling(app, logger, metrics);
  return app;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = envelopedFastify(deps.logger, deps.metrics);
  // @fastify/swagger collects each route as it is added (GET /openapi.json): plugins load in
  // order, so it comes first and the routes are added by the plugin after it.
  void app.register(swagger, openApiOptions());
  void app.register(async (api) => {
    massengerRoutes(api, deps);
    messageRoutes(api, deps);
    memberRoutes(api, deps);
    notificationRoutes(api, deps);
    opsRoutes(api, deps);
    if (deps.serveMetrics) metricsRoute(api, deps);
    if (deps.pageRoot != null) pageRoutes(api, deps.pageRoot);
    if (deps.devSignIn != null) devRoutes(api, deps.devSignIn);
    openApiRoute(api);
  });
  return app;
}

/** The metrics-only app for METRICS_PORT: `/metrics`, and the 404 envelope for anything else. */
export function buildMetricsApp(deps: MetricsDeps & { logger: FastifyBaseLogger }): FastifyInstance {
  const app = envelopedFastify(deps.logger, deps.metrics);
  metricsRoute(app, deps);
  return app;
}
