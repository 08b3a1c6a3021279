/**
 * POST /massenger/:conversationId/members and DELETE /massenger/:conversationId/members/:userId
 * (spec §3): add people to a conversation, or leave it. Bad input (400) first, then not a member
 * (404), then not allowed (403): membership.ts keeps that order for what needs the database.
 */
import type { FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../../auth/jwt.js';
import { MAX_ADDED, type Membership } from '../../core/membership.js';
import { AppError, conversationNotFound } from '../../errors.js';
import { parseId } from '../../protocol/codec.js';
import { ok } from '../envelope.js';
import { answers, data, ID, NO_TOKEN, USER_TOKEN } from './openapi.js';
import { PATH_ID, signedIn } from './signed-in.js';

export function memberRoutes(app: FastifyInstance, deps: { membership: Membership; verifier: TokenVerifier }): void {
  const { membership } = deps;
  const { authenticate, caller } = signedIn(deps.verifier);

  app.post<{ Params: { conversationId: string }; Body: { userIds: string[] } }>(
    '/massenger/:conversationId/members',
    {
      onRequest: authenticate,
      schema: {
        summary: 'Add users to a conversation of the caller',
        tags: ['members'],
        security: USER_TOKEN,
        answers: answers({
          200: data('Those who were not members yet.', { conversationId: ID, added: { type: 'array', items: ID } }),
          400: 'unknown users, bad input, or more than 256 members',
          401: NO_TOKEN,
          403: 'a private conversation',
          404: 'no such conversation, or the caller is not a member',
        }),
        params: { type: 'object', properties: { conversationId: PATH_ID } },
        body: {
          type: 'object',
          required: ['userIds'],
          properties: { userIds: { type: 'array', minItems: 1, maxItems: MAX_ADDED, items: { type: 'string', pattern: '^[0-9]{1,19}$' } } },
        },
      },
    },
    async (request) => {
      const userId = caller(request);
      const userIds = request.body.userIds.map((value) => {
        const id = parseId(value);
        if (id === null) throw new AppError('INVALID_DATA', 'userIds must be user ids');
        return id;
      });
      const conversationId = parseId(request.params.conversationId);
      if (conversationId === null) throw conversationNotFound();
      return ok({ conversationId, added: await membership.add(userId, conversationId, userIds) });
    },
  );

  app.delete<{ Params: { conversationId: string; userId: string } }>(
    '/massenger/:conversationId/members/:userId',
    {
      onRequest: authenticate,
      schema: {
        summary: 'Leave a conversation (`userId` is the caller)',
        tags: ['members'],
        security: USER_TOKEN,
        answers: answers({
          200: data('The caller left.', { conversationId: ID, removed: { type: 'array', items: ID } }),
          401: NO_TOKEN,
          403: 'someone else than the caller, or a private conversation',
          404: 'no such conversation, or the caller is not a member',
        }),
        params: { type: 'object', properties: { conversationId: PATH_ID, userId: PATH_ID } },
      },
    },
    async (request) => {
      const userId = caller(request);
      const conversationId = parseId(request.params.conversationId);
      if (conversationId === null) throw conversationNotFound();
      // An id no user can have is "someone else": 404 or 403 below, never a 400 for digits.
      const target = parseId(request.params.userId) ?? '0';
      return ok({ conversationId, removed: await membership.leave(userId, conversationId, target) });
    },
  );
}
