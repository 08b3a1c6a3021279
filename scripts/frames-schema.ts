/**
 * Writes docs/frames.schema.json: the WebSocket frames of docs/protocol.md as JSON Schema (draft
 * 2020-12), with the limits taken from the codec itself. `npm run -s frames-schema` rewrites it;
 * `-- --check` fails when the file differs from what this script makes. test/docs.test.ts checks
 * the schema against the codec (examples built from it must decode, broken ones must not) and
 * against what a real node sends.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorCodes } from '../src/errors.js';
import { DEFAULT_FETCH_LIMIT, MAX_CONTENT_CHARS, MAX_FETCH_LIMIT, MAX_TAG_CHARS } from '../src/protocol/codec.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/$defs/${name}` });
const object = (required: string[], properties: Record<string, Schema>, additional = false): Schema => ({
  type: 'object',
  required,
  properties,
  additionalProperties: additional,
});
const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] });

/** A client → server frame: `data` may be left out when nothing in it is required. */
function request(method: string, required: string[], properties: Record<string, Schema>, description: string): Schema {
  // Every request may carry requestId, and the original web client sends `token` everywhere.
  const data = object(required, { requestId: ref('Tag'), token: { description: 'Ignored after sign-in (the original web client sends it everywhere).' }, ...properties }, true);
  return { description, ...object(required.length === 0 ? ['method'] : ['method', 'data'], { method: { const: method }, data }) };
}

function event(method: string, data: Schema, description: string): Schema {
  return { description, ...object(['method', 'data'], { method: { const: method }, data }) };
}

const requestIdEcho = { requestId: ref('Tag') };

const CLIENT: Record<string, Schema> = {
  AUTHENTICATE: request('AUTHENTICATE', ['token'], { token: { type: 'string', minLength: 1 }, lastMessageId: ref('LastMessageId') }, 'Signs the connection in (first frame); answered by INIT.'),
  SEND_MESSAGE: request('SEND_MESSAGE', ['conversationId', 'content'], { conversationId: ref('Id'), content: ref('Content'), clientMessageId: ref('Tag') }, 'Stores a message; the sender’s MESSAGE_SENT is the acknowledgement.'),
  OPEN_CONVERSATION: request('OPEN_CONVERSATION', ['conversationId'], { conversationId: ref('Id') }, 'Marks the conversation seen; answered by CONVERSATION_SEEN.'),
  TYPING: request('TYPING', ['conversationId'], { conversationId: ref('Id') }, 'Relays TYPING to the other members.'),
  FETCH_MESSAGES: request('FETCH_MESSAGES', ['conversationId'], { conversationId: ref('Id'), before: ref('Id'), limit: ref('Limit') }, 'Answered by MESSAGES: older messages, oldest first.'),
  EDIT_MESSAGE: request('EDIT_MESSAGE', ['messageId', 'content'], { messageId: ref('Id'), content: ref('Content') }, 'The author replaces a message’s content; answered by MESSAGE_EDITED.'),
  DELETE_MESSAGE: request('DELETE_MESSAGE', ['messageId'], { messageId: ref('Id') }, 'The author deletes a message; answered by MESSAGE_DELETED (the tombstone).'),
  PING: request('PING', [], {}, 'Answered by PONG.'),
};

const SERVER: Record<string, Schema> = {
  INIT: event('INIT', object(['userId', 'conversations', 'onlineFriends'], {
    userId: ref('WireId'),
    conversations: { type: 'array', maxItems: 10, items: ref('Conversation') },
    onlineFriends: { type: 'array', items: object(['id', 'conversationId'], { id: ref('WireId'), conversationId: nullable(ref('WireId')) }) },
    missedMessages: { type: 'array', maxItems: 2000, items: ref('Message') },
    recovered: { type: 'boolean' },
  }), 'Answers AUTHENTICATE (and every refresh).'),
  USER_JOINED: event('USER_JOINED', object(['id', 'userId', 'conversationId'], { id: ref('WireId'), userId: ref('WireId'), conversationId: nullable(ref('WireId')) }), 'A friend came online.'),
  USER_LEFT: event('USER_LEFT', object(['userId'], { userId: ref('WireId') }), 'A friend went offline.'),
  MESSAGE_SENT: event('MESSAGE_SENT', object(['message'], { message: ref('Message'), ...requestIdEcho }), 'A message was stored.'),
  CONVERSATION_SEEN: event('CONVERSATION_SEEN', object(['conversationId', 'userId', 'seenAt'], { conversationId: ref('WireId'), userId: ref('WireId'), seenAt: ref('Time') }), 'A member marked the conversation seen.'),
  INVITATION_SENT: event('INVITATION_SENT', object(['conversationId'], { conversationId: ref('WireId') }), 'You were added to a conversation.'),
  NOTIFICATION_SENT: event('NOTIFICATION_SENT', {
    type: 'object',
    required: ['content'],
    properties: { content: { type: 'string', minLength: 1 } },
    description: 'Passed through as the main API gave it (usually with name and img), less users.',
  }, 'A notification from the main API.'),
  TYPING: event('TYPING', object(['conversationId', 'userId'], { conversationId: ref('WireId'), userId: ref('WireId') }), 'A member is typing.'),
  MESSAGES: event('MESSAGES', object(['conversationId', 'messages', 'hasMore'], { conversationId: ref('WireId'), messages: { type: 'array', maxItems: MAX_FETCH_LIMIT, items: ref('Message') }, hasMore: { type: 'boolean' }, ...requestIdEcho }), 'Answers FETCH_MESSAGES.'),
  MESSAGE_EDITED: event('MESSAGE_EDITED', object(['message'], { message: ref('Message'), ...requestIdEcho }), 'A message was edited: the message as it is now.'),
  MESSAGE_DELETED: event('MESSAGE_DELETED', object(['message'], { message: ref('Message'), ...requestIdEcho }), 'A message was deleted: its tombstone.'),
  MEMBERS_CHANGED: event('MEMBERS_CHANGED', object(['conversationId', 'added', 'removed', 'by'], { conversationId: ref('WireId'), added: { type: 'array', items: ref('WireId') }, removed: { type: 'array', items: ref('WireId') }, by: ref('WireId') }), 'Users joined or left a conversation.'),
  PONG: event('PONG', object([], requestIdEcho), 'Answers PING.'),
  ERROR: event('ERROR', object(['code', 'message'], { code: ref('ErrorCode'), message: { type: 'string' }, method: { type: 'string' }, ...requestIdEcho, clientMessageId: ref('Tag') }), 'A request was refused; method, requestId and clientMessageId name it.'),
};

/** The schema, built from the codec's limits and the error registry's codes. */
export function framesSchema(): Schema {
  const defs: Record<string, Schema> = {
    Id: {
      description: 'An id as a client may send it: a decimal string naming a positive bigint (at most 9223372036854775807), or a positive JSON integer.',
      oneOf: [{ type: 'string', pattern: '^(?=[0-9]*[1-9])[0-9]{1,19}$' }, { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }],
    },
    LastMessageId: { description: 'An Id, or 0 (everything).', oneOf: [{ type: 'string', pattern: '^[0-9]{1,19}$' }, { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }] },
    WireId: { description: 'An id as the server sends it: a decimal string.', type: 'string', pattern: '^[1-9][0-9]{0,18}$' },
    Time: { description: 'ISO 8601 in UTC, e.g. 2026-11-24T10:00:00.000Z.', type: 'string', format: 'date-time', pattern: 'Z$' },
    Tag: { description: 'requestId or clientMessageId: well-formed Unicode without NUL.', type: 'string', minLength: 1, maxLength: MAX_TAG_CHARS, not: { pattern: '\\u0000' } },
    Content: {
      description: 'Message text, stored as sent: well-formed Unicode, not only white space, without NUL.',
      type: 'string', minLength: 1, maxLength: MAX_CONTENT_CHARS, pattern: '\\S', not: { pattern: '\\u0000' },
    },
    Limit: {
      description: `How many messages, ${DEFAULT_FETCH_LIMIT} when left out.`,
      oneOf: [{ type: 'integer', minimum: 1, maximum: MAX_FETCH_LIMIT }, { type: 'string', maxLength: 4, pattern: '^0*([1-9][0-9]?|100)$' }],
    },
    ErrorCode: { enum: [...errorCodes] },
    Message: object(['id', 'conversationId', 'author', 'content', 'createdAt', 'updatedAt', 'deletedAt', 'clientMessageId'], {
      id: ref('WireId'),
      conversationId: ref('WireId'),
      author: ref('WireId'),
      content: { type: 'string', maxLength: MAX_CONTENT_CHARS, description: 'Empty once deleted.' },
      createdAt: ref('Time'),
      updatedAt: { ...ref('Time'), description: 'Later on every edit or delete: keep the copy with the latest.' },
      deletedAt: nullable(ref('Time')),
      clientMessageId: nullable(ref('Tag')),
    }),
    Conversation: object(['id', 'createdAt', 'lastActivityAt', 'unread', 'unreadCount', 'active', 'private', 'lastMessage', 'users'], {
      id: ref('WireId'),
      createdAt: ref('Time'),
      lastActivityAt: ref('Time'),
      unread: { type: 'boolean' },
      unreadCount: { type: 'integer', minimum: 0, maximum: 100 },
      active: { type: 'boolean' },
      private: { type: 'boolean' },
      lastMessage: nullable(ref('Message')),
      users: {
        type: 'array',
        items: object(['id', 'username', 'profilePicture', 'lastVisit', 'online'], {
          id: ref('WireId'), username: { type: 'string' }, profilePicture: nullable({ type: 'string' }), lastVisit: nullable(ref('Time')), online: { type: 'boolean' },
        }),
      },
    }),
  };
  for (const [method, schema] of Object.entries(CLIENT)) defs[`client.${method}`] = schema;
  for (const [method, schema] of Object.entries(SERVER)) defs[`server.${method}`] = schema;
  defs.ClientFrame = { oneOf: Object.keys(CLIENT).map((m) => ref(`client.${m}`)) };
  defs.ServerFrame = { oneOf: Object.keys(SERVER).map((m) => ref(`server.${m}`)) };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'massenger WebSocket frames',
    description: 'Every frame is one JSON object {method, data} in a UTF-8 text frame (docs/protocol.md). ClientFrame: what a client sends; ServerFrame: what a node sends. Generated by scripts/frames-schema.ts; do not edit.',
    oneOf: [ref('ClientFrame'), ref('ServerFrame')],
    $defs: defs,
  };
}

/** The file's text: stable key order and a final newline, so a rewrite changes nothing when nothing changed. */
export function schemaText(): string {
  return JSON.stringify(framesSchema(), null, 2) + '\n';
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // npm runs scripts from the package root.
  const path = join(process.cwd(), 'docs/frames.schema.json');
  const text = schemaText();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      /* missing counts as different */
    }
    if (current !== text) {
      process.stderr.write('docs/frames.schema.json is out of date: run npm run -s frames-schema\n');
      process.exit(1);
    }
  } else {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
