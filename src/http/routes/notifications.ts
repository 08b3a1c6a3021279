/** The private route for the main API (spec §3): push a notification to online users. */
import type { FastifyInstance } from 'fastify';
import type { Directory } from '../../core/directory.js';
import { checkInternal } from '../auth.js';
import { ok } from '../envelope.js';

export function notificationRoutes(app: FastifyInstance, deps: { directory: Directory; internalApiToken: string | null }): void {
  // onRequest: the caller is checked before the body is even parsed, so a refused caller gets
  // its 401/403 whatever it sent.
  app.post('/socket/notifications', { onRequest: async (request) => checkInternal(request, deps.internalApiToken) }, async (request) => {
    // The body is free-form beyond {users, content}; parseNotification validates it (shared with the Redis channel).
    return ok({ users: await deps.directory.notify(request.body) });
  });
}
