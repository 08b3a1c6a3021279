/** The private route for the main API (spec §3): push a notification to online users. */
import type { FastifyInstance, FastifyRequest, FastifySchema } from 'fastify';
import type { Directory } from '../../core/directory.js';
import { MAX_NOTIFICATION_BYTES, MAX_NOTIFICATION_DEPTH, MAX_NOTIFICATION_USERS } from '../../core/notifications.js';
import { checkInternal } from '../auth.js';
import { ok } from '../envelope.js';
import { answers, data, ID, INTERNAL_TOKEN } from './openapi.js';

export function notificationRoutes(app: FastifyInstance, deps: { directory: Directory; internalApiToken: string | null }): void {
  // onRequest: the caller is checked before the body is even parsed, so a refused caller gets
  // its 401/403 whatever it sent.
  const schema: FastifySchema = {
    summary: 'Push a notification (NOTIFICATION_SENT, the body less `users`) to online users on every node',
    tags: ['notifications'],
    security: INTERNAL_TOKEN,
    // Documented only: parseNotification checks the body, and free-form fields pass through.
    documentedBody: {
      type: 'object',
      required: ['users', 'content'],
      properties: {
        users: { type: 'array', minItems: 1, maxItems: MAX_NOTIFICATION_USERS, items: ID },
        content: { type: 'string', minLength: 1 },
        name: { type: 'string' },
        img: { type: 'string' },
      },
      additionalProperties: true,
      description: `At most ${MAX_NOTIFICATION_DEPTH} levels deep, and ${MAX_NOTIFICATION_BYTES} bytes as a frame without \`users\`.`,
    },
    answers: answers({
      200: data('How many of the users were online.', { users: { type: 'integer', minimum: 0 } }),
      400: 'a malformed notification',
      401: 'no valid `Authorization: Bearer <INTERNAL_API_TOKEN>`',
      403: 'not from the loopback address while INTERNAL_API_TOKEN is not set',
    }),
  };
  const onRequest = async (request: FastifyRequest) => checkInternal(request, deps.internalApiToken);
  app.post('/socket/notifications', { onRequest, schema }, async (request) => {
    // The body is free-form beyond {users, content}; parseNotification validates it (shared with the Redis channel).
    return ok({ users: await deps.directory.notify(request.body) });
  });
}
