/**
 * `GET /metrics` (spec §3, Prometheus text format), on the public app or, with METRICS_PORT, on a
 * metrics-only app. With METRICS_TOKEN it requires `Authorization: Bearer <METRICS_TOKEN>`.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';
import { AppError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import { bearer, sameSecret } from '../auth.js';
import { answers } from './openapi.js';

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
  const schema: FastifySchema = {
    summary: 'Prometheus metrics of this node',
    tags: ['operations'],
    // METRICS_TOKEN only when it is set: either scheme, or none.
    security: [{ metricsToken: [] }, {}],
    answers: answers({
      200: { description: 'The Prometheus text format.', content: { [deps.metrics.contentType]: { schema: { type: 'string' } } } },
      401: 'no valid `Authorization: Bearer <METRICS_TOKEN>` while METRICS_TOKEN is set',
    }),
  };
  app.get('/metrics', { onRequest, schema }, async (_request, reply) => {
    deps.beforeScrape();
    return reply.type(deps.metrics.contentType).send(await deps.metrics.text());
  });
}
