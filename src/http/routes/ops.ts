/** Operations routes (spec §3): liveness and readiness; `/metrics` is in metrics.ts. */
import type { FastifyInstance, FastifySchema } from 'fastify';
import { fail, ok } from '../envelope.js';
import { answers, data, success } from './openapi.js';

/** A dependency that does not answer within this is reported as down. */
const READY_TIMEOUT_MS = 2000;

export interface ReadinessCheck {
  name: string;
  ping(): Promise<void>;
}

function within(ms: number, work: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function opsRoutes(app: FastifyInstance, deps: { checks: ReadinessCheck[] }): void {
  const health: FastifySchema = {
    summary: 'Liveness: the process is up',
    tags: ['operations'],
    answers: answers({ 200: data('Up.', { status: { const: 'up' } }) }),
  };
  app.get('/healthz', { schema: health }, async () => ok({ status: 'up' }));

  const readiness: FastifySchema = {
    summary: `Readiness: the database and, if configured, Redis answer within ${READY_TIMEOUT_MS} ms`,
    tags: ['operations'],
    answers: answers({
      200: success('Every check by name (database, redis, gateway), each ok.', { type: 'object', additionalProperties: { const: 'ok' } }),
      503: 'what is down',
    }),
  };
  app.get('/readyz', { schema: readiness }, async (_request, reply) => {
    const results = await Promise.all(
      deps.checks.map(async (check) => {
        try {
          await within(READY_TIMEOUT_MS, check.ping());
          return [check.name, 'ok'] as const;
        } catch (err) {
          return [check.name, `down: ${(err as Error).message}`] as const;
        }
      }),
    );
    const down = results.filter(([, state]) => state !== 'ok');
    if (down.length > 0) return reply.code(503).send(fail(down.map(([name, state]) => `${name} ${state}`).join('; ')));
    return ok(Object.fromEntries(results));
  });
}
