/**
 * `GET /metrics` (spec §3, Prometheus text format), on the public app or, with METRICS_PORT, on a
 * metrics-only app. With METRICS_TOKEN it requires `Authorization: Bearer <METRICS_TOKEN>`.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import { bearer, sameSecret } from '../auth.js';

export interface MetricsDeps {
  metrics: Metrics;
  /** Unset: `/metrics` answers anyone who can reach it. */
  metricsToken: string | null;
  /** Updates gauges that are read rather than counted, just before /metrics answers. */
  beforeScrape: () => void;
}

export function metricsRoute(app: FastifyInstance, deps: MetricsDeps): void {
  const { metricsToken } = deps;
  const onRequest = async (request: Parameters<typeof bearer>[0]) => {
    if (metricsToken !== null && !sameSecret(bearer(request), metricsToken)) {
      throw new AppError('UNAUTHENTICATED', 'Authorization: Bearer <METRICS_TOKEN> is required');
    }
  };
  app.get('/metrics', { onRequest }, async (_request, reply) => {
    deps.beforeScrape();
    return reply.type(deps.metrics.contentType).send(await deps.metrics.text());
  });
}
