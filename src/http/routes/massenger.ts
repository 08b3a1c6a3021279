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
import { queryLimit } from '../query.js';
import { answers, CONVERSATION, data, ID, MESSAGE, NO_TOKEN, USER_TOKEN } from './openapi.js';

/** GET /massenger pages 10 conversations at a time unless asked otherwise. */
const DEFAULT_CONVERSATIONS = 10;
const MAX_CONVERSATIONS = 100;

const idPattern = '^[0-9]{1,19}$';

function id(value: string, field: string): string {
  const parsed = parseId(value);
  if (parsed === null) throw new AppError('INVALID_DATA', `${field} must be an id`);
  return parsed;
}

/**
 * Times a `before` cursor may name: the database has no year 0 (which "0000-01-01" would reach),
 * and no conversation is older than 1970, so the range is bounded where every value is storable.
 */
const MIN_CURSOR_MS = Date.UTC(1970, 0, 1);
const MAX_CURSOR_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** `before` of GET /massenger: a conversation id (older than that one) or an ISO 8601 time. */
function conversationCursor(before: string | undefined): ConversationPage['before'] {
  if (before === undefined) return undefined;
  if (/^[0-9]+$/.test(before)) return { conversationId: id(before, 'before') };
  // Date() would also read "-1" or "May 5": only an ISO 8601 date or date-time is a time here.
  const ms = /^\d{4}-\d{2}-\d{2}(T|$)/.test(before) ? Date.parse(before) : NaN;
  if (!(ms >= MIN_CURSOR_MS && ms <= MAX_CURSOR_MS)) {
    throw new AppError('INVALID_DATA', 'before must be a conversation id or an ISO 8601 time from 1970 to 9999');
  }
  return { time: new Date(ms) };
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
        summary: 'Start a conversation with other users (the caller is always added)',
        tags: ['conversations'],
        security: USER_TOKEN,
        answers: answers({ 200: data('The new conversation; each online invitee but the caller gets INVITATION_SENT.', { conversationId: ID }), 400: 'unknown users or bad input', 401: NO_TOKEN }),
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

  app.get<{ Querystring: { limit?: string; before?: string } }>(
    '/massenger',
    {
      onRequest: authenticate,
      schema: {
        summary: 'The caller\'s conversations by latest activity, newest first',
        tags: ['conversations'],
        security: USER_TOKEN,
        answers: answers({ 200: data('A page of conversations.', { conversations: { type: 'array', items: CONVERSATION } }), 400: 'bad limit or before', 401: NO_TOKEN }),
        querystring: {
          type: 'object',
          properties: {
            // A string, read by queryLimit: Ajv's coercion would accept "Infinity" (issue 7, defect 3).
            limit: { type: 'string', description: `Decimal digits, 1 to ${MAX_CONVERSATIONS}; default ${DEFAULT_CONVERSATIONS}.` },
            before: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'A conversation id (those less recently active than it) or an ISO 8601 time (those active before it).',
            },
          },
        },
      },
    },
    async (request) => {
      const userId = caller(request);
      const limit = queryLimit(request.query.limit, 'limit', DEFAULT_CONVERSATIONS, MAX_CONVERSATIONS);
      const page = { limit, before: conversationCursor(request.query.before) };
      return ok({ conversations: await directory.conversations(userId, page) });
    },
  );

  app.get<{ Params: { conversationId: string }; Querystring: { limit?: string; before?: string } }>(
    '/massenger/:conversationId',
    {
      onRequest: authenticate,
      schema: {
        summary: 'A conversation of the caller, with a page of its messages (oldest first)',
        tags: ['conversations'],
        security: USER_TOKEN,
        answers: answers({
          200: data('The conversation and its messages.', {
            conversation: { allOf: [CONVERSATION, { type: 'object', required: ['messages', 'hasMore'], properties: { messages: { type: 'array', items: MESSAGE }, hasMore: { type: 'boolean' } } }] },
          }),
          400: 'bad limit or before',
          401: NO_TOKEN,
          404: 'no such conversation, or the caller is not a member',
        }),
        // Any run of digits: one too large for a bigint names no conversation and gets the
        // stranger's 404 below, not a 400 (spec §2.3).
        params: { type: 'object', properties: { conversationId: { type: 'string', pattern: '^[0-9]{1,64}$' } } },
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'string', description: `Decimal digits, 1 to ${MAX_FETCH_LIMIT}; default ${DEFAULT_FETCH_LIMIT}.` },
            before: { type: 'string', pattern: idPattern, description: 'A message id: the messages older than it.' },
          },
        },
      },
    },
    async (request) => {
      const userId = caller(request);
      // Bad input first (400), as the schema's checks are, then the stranger's 404.
      const { before } = request.query;
      const limit = queryLimit(request.query.limit, 'limit', DEFAULT_FETCH_LIMIT, MAX_FETCH_LIMIT);
      const page = { limit, before: before === undefined ? undefined : id(before, 'before') };
      const conversationId = parseId(request.params.conversationId);
      // Id 0 or one past bigint cannot name a conversation: same answer as a stranger's (spec §2.3).
      if (conversationId === null) throw new AppError('NOT_FOUND', 'conversation not found');
      return ok({ conversation: await directory.conversation(userId, conversationId, page) });
    },
  );
}
