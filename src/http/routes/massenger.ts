/**
 * Public routes (spec §3) under `/massenger`. The prefix is case-insensitive because the app is
 * built with `caseSensitive: false`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenVerifier } from '../../auth/jwt.js';
import type { ConversationPage, Directory } from '../../core/directory.js';
import { AppError } from '../../errors.js';
import { DEFAULT_FETCH_LIMIT, MAX_FETCH_LIMIT, parseId } from '../../protocol/codec.js';
import { callerId } from '../auth.js';
import { ok } from '../envelope.js';

/** GET /massenger pages 10 conversations at a time unless asked otherwise. */
const DEFAULT_CONVERSATIONS = 10;
const MAX_CONVERSATIONS = 100;

const idPattern = '^[0-9]{1,19}$';

function id(value: string, field: string): string {
  const parsed = parseId(value);
  if (parsed === null) throw new AppError('INVALID_DATA', `${field} must be an id`);
  return parsed;
}

/** `before` of GET /massenger: a conversation id (older than that one) or an ISO 8601 time. */
function conversationCursor(before: string | undefined): ConversationPage['before'] {
  if (before === undefined) return undefined;
  if (/^[0-9]+$/.test(before)) return { conversationId: id(before, 'before') };
  // Date() would also read "-1" or "May 5": only an ISO 8601 date or date-time is a time here.
  const time = /^\d{4}-\d{2}-\d{2}(T|$)/.test(before) ? new Date(before) : new Date(NaN);
  if (Number.isNaN(time.getTime())) throw new AppError('INVALID_DATA', 'before must be a conversation id or an ISO 8601 time');
  return { time };
}

export function massengerRoutes(app: FastifyInstance, deps: { directory: Directory; verifier: TokenVerifier }): void {
  const { directory, verifier } = deps;
  // Spec §3: 401 without a valid token, whatever the body or query. The token is checked in
  // onRequest, before Fastify parses and validates, so a stranger never sees a 400 instead.
  const callers = new WeakMap<FastifyRequest, string>();
  const authenticate = async (request: FastifyRequest) => {
    callers.set(request, await callerId(request, verifier));
  };
  const caller = (request: FastifyRequest): string => {
    const userId = callers.get(request);
    if (userId === undefined) throw new AppError('UNAUTHENTICATED', 'Authorization: Bearer <token> is required');
    return userId;
  };

  app.post<{ Body: { userIds: string[] } }>(
    '/massenger/startConversation',
    {
      onRequest: authenticate,
      schema: {
        body: {
          type: 'object',
          required: ['userIds'],
          properties: {
            // The caller may list themselves too: 255 others plus the caller.
            userIds: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', pattern: idPattern } },
          },
        },
      },
    },
    async (request) => {
      const userId = caller(request);
      const conversationId = await directory.startConversation(
        userId,
        request.body.userIds.map((u) => id(u, 'userIds')),
      );
      return ok({ conversationId });
    },
  );

  app.get<{ Querystring: { limit?: number; before?: string } }>(
    '/massenger',
    {
      onRequest: authenticate,
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_CONVERSATIONS },
            before: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
      },
    },
    async (request) => {
      const userId = caller(request);
      const page = { limit: request.query.limit ?? DEFAULT_CONVERSATIONS, before: conversationCursor(request.query.before) };
      return ok({ conversations: await directory.conversations(userId, page) });
    },
  );

  app.get<{ Params: { conversationId: string }; Querystring: { limit?: number; before?: string } }>(
    '/massenger/:conversationId',
    {
      onRequest: authenticate,
      schema: {
        // Any run of digits: one too large for a bigint names no conversation and gets the
        // stranger's 404 below, not a 400 (spec §2.3).
        params: { type: 'object', properties: { conversationId: { type: 'string', pattern: '^[0-9]{1,64}$' } } },
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_FETCH_LIMIT },
            before: { type: 'string', pattern: idPattern },
          },
        },
      },
    },
    async (request) => {
      const userId = caller(request);
      const conversationId = parseId(request.params.conversationId);
      // Id 0 or one past bigint cannot name a conversation: same answer as a stranger's (spec §2.3).
      if (conversationId === null) throw new AppError('NOT_FOUND', 'conversation not found');
      const { before, limit } = request.query;
      const page = { limit: limit ?? DEFAULT_FETCH_LIMIT, before: before === undefined ? undefined : id(before, 'before') };
      return ok({ conversation: await directory.conversation(userId, conversationId, page) });
    },
  );
}
