/**
 * The Fastify app (spec §3): envelope, error handling and routes. It owns no resources; build.ts
 * composes it with the core and the WebSocket gateway on the same http.Server.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../auth/jwt.js';
import type { Directory } from '../core/directory.js';
import type { Membership } from '../core/membership.js';
import type { MessageChanges } from '../core/message-changes.js';
import type { Metrics } from '../metrics.js';
import { installErrorHandling } from './envelope.js';
import { massengerRoutes } from './routes/massenger.js';
import { memberRoutes } from './routes/members.js';
import { messageRoutes } from './routes/messages.js';
import { notificationRoutes } from './routes/notifications.js';
import { opsRoutes, type ReadinessCheck } from './routes/ops.js';

export interface AppDeps {
  directory: Directory;
  changes: MessageChanges;
  membership: Membership;
  verifier: TokenVerifier;
  metrics: Metrics;
  checks: ReadinessCheck[];
  internalApiToken: string | null;
  /** Updates gauges that are read rather than counted, just before /metrics answers. */
  beforeScrape: () => void;
  logger: FastifyBaseLogger;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Spec §3: `/massenger` and `/Massenger` are the same.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // A gateway's HTTP side is mostly probes and scrapes: log errors, not every request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Fastify's default `coerceTypes: 'array'` would turn `{userIds: "2"}` into `["2"]`; spec §3
    // wants a 400 for a wrong shape. Scalars are still coerced (query strings, ids sent as numbers).
    ajv: { customOptions: { coerceTypes: true } },
  });
  installErrorHandling(app, app.log, deps.metrics);
  massengerRoutes(app, deps);
  messageRoutes(app, deps);
  memberRoutes(app, deps);
  notificationRoutes(app, deps);
  opsRoutes(app, deps);
  return app;
}
