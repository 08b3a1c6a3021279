/**
 * PATCH and DELETE /massenger/messages/:messageId (spec §3): the same rules and events as
 * EDIT_MESSAGE and DELETE_MESSAGE. Bad input (400) is answered before anything is looked up, then
 * NOT_FOUND (404), then FORBIDDEN (403), as on the WebSocket.
 */
import type { FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../../auth/jwt.js';
import type { MessageChanges } from '../../core/message-changes.js';
import { AppError } from '../../errors.js';
import { checkContent, parseId } from '../../protocol/codec.js';
import { ok } from '../envelope.js';
import { PATH_ID, signedIn } from './signed-in.js';

function messageId(value: string): string {
  const id = parseId(value);
  // Id 0 or one past bigint names no message: the stranger's answer.
  if (id === null) throw new AppError('NOT_FOUND', 'message not found');
  return id;
}

export function messageRoutes(app: FastifyInstance, deps: { changes: MessageChanges; verifier: TokenVerifier }): void {
  const { changes } = deps;
  const { authenticate, caller } = signedIn(deps.verifier);
  const params = { type: 'object', properties: { messageId: PATH_ID } };

  app.patch<{ Params: { messageId: string }; Body: { content?: unknown } }>(
    '/massenger/messages/:messageId',
    {
      onRequest: authenticate,
      // `content` is checked below, not typed here: the schema would coerce a number into a string.
      schema: { params, body: { type: 'object', required: ['content'] } },
    },
    async (request) => {
      const userId = caller(request);
      const problem = checkContent(request.body.content);
      if (problem !== null) throw new AppError('INVALID_DATA', problem);
      const message = await changes.edit(userId, messageId(request.params.messageId), request.body.content as string);
      return ok({ message });
    },
  );

  app.delete<{ Params: { messageId: string } }>(
    '/massenger/messages/:messageId',
    { onRequest: authenticate, schema: { params } },
    async (request) => {
      const userId = caller(request);
      return ok({ message: await changes.delete(userId, messageId(request.params.messageId)) });
    },
  );
}
