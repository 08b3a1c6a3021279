/**
 * PATCH and DELETE /massenger/messages/:messageId (spec §3): the same rules and events as
 * EDIT_MESSAGE and DELETE_MESSAGE. Bad input (400) is answered before anything is looked up, then
 * NOT_FOUND (404), then FORBIDDEN (403), as on the WebSocket.
 */
import type { FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../../auth/jwt.js';
import type { MessageChanges } from '../../core/message-changes.js';
import { AppError } from '../../errors.js';
import { checkContent, MAX_CONTENT_CHARS, parseId } from '../../protocol/codec.js';
import { ok } from '../envelope.js';
import { answers, data, MESSAGE, NO_TOKEN, USER_TOKEN } from './openapi.js';
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
      schema: {
        summary: 'Edit a message of the caller: the rules and events of EDIT_MESSAGE',
        tags: ['messages'],
        security: USER_TOKEN,
        answers: answers({
          200: data('The edited message; members get MESSAGE_EDITED.', { message: MESSAGE }),
          400: `content missing or not 1 to ${MAX_CONTENT_CHARS} characters of text`,
          401: NO_TOKEN,
          403: 'not the author',
          404: 'no such message (or a deleted one), or the caller is not a member of its conversation',
        }),
        params,
        body: { type: 'object', required: ['content'] },
        documentedBody: { type: 'object', required: ['content'], properties: { content: { type: 'string', minLength: 1, maxLength: MAX_CONTENT_CHARS } } },
      },
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
    {
      onRequest: authenticate,
      schema: {
        summary: 'Delete a message of the caller: the rules and events of DELETE_MESSAGE',
        tags: ['messages'],
        security: USER_TOKEN,
        answers: answers({
          200: data('The tombstone (again on a second delete); members get MESSAGE_DELETED.', { message: MESSAGE }),
          401: NO_TOKEN,
          403: 'not the author',
          404: 'no such message, or the caller is not a member of its conversation',
        }),
        params,
      },
    },
    async (request) => {
      const userId = caller(request);
      return ok({ message: await changes.delete(userId, messageId(request.params.messageId)) });
    },
  );
}
