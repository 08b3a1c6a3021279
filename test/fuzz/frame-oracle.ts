/**
 * What spec §2 (and docs/protocol.md, which details it) says one client frame brings: the frames
 * its connection gets back, whether the connection then closes and with which code, and what
 * the other member of the conversation (the bystander) gets. Written from the contract, not from
 * src/protocol/codec.ts, so that the fuzzer checks the code against the text and not against
 * itself. The world (world.ts) is kept up to date with what each frame should have done.
 */
import { expect } from 'vitest';
import type { Expected, View } from './views.js';
import { codePoints, contentOk, messageView, wireId, type Message, type World } from './world.js';

/** Spec §2.4 default; the fuzz nodes run with it. */
export const MAX_FRAME_BYTES = 65536;
/** docs/protocol.md: requestId and clientMessageId are 1 to 64 characters. */
const MAX_TAG = 64;
const KNOWN_METHODS = new Set(['AUTHENTICATE', 'SEND_MESSAGE', 'OPEN_CONVERSATION', 'TYPING', 'FETCH_MESSAGES', 'EDIT_MESSAGE', 'DELETE_MESSAGE', 'PING']);
const PRE_AUTH_METHODS = new Set(['AUTHENTICATE', 'PING']);

/** One frame as written on the wire: JSON text, or raw bytes in a text or binary frame. */
export type Wire = { text: string } | { bytes: Buffer; binary: boolean };

export function wireBytes(wire: Wire): Buffer {
  return 'text' in wire ? Buffer.from(wire.text, 'utf8') : wire.bytes;
}

export interface Outcome {
  /** Frames the sender's connection gets, in order. */
  replies: Expected[];
  /** Frames the bystander's connection gets. */
  bystander: Expected[];
  /** The connection closes after the replies, with this code. */
  close?: number;
  /** The frame must be sent only once every earlier answer arrived (ws closes at once on it). */
  alone?: boolean;
}

/** The connection as the oracle follows it. */
export interface Connection {
  userId: string | null;
  closed: boolean;
}

/** requestId or clientMessageId: absent (or null), valid (1 to 64 well-formed characters, no NUL), or invalid. */
function tag(value: unknown): string | 'absent' | 'invalid' {
  if (value === undefined || value === null) return 'absent';
  if (typeof value !== 'string' || value.length === 0 || codePoints(value) > MAX_TAG) return 'invalid';
  return value.includes('\u0000') || !value.isWellFormed() ? 'invalid' : value;
}

/** FETCH_MESSAGES limit: absent means 50; an integer 1 to 100, or a string of digits naming one. */
function fetchLimit(value: unknown): number | null {
  if (value === undefined || value === null) return 50;
  const n = typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 100 ? n : null;
}

function strictUtf8(bytes: Buffer): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

const only = (view: View): Outcome => ({ replies: [{ view }], bystander: [] });

/** Spec §2.2 ERROR: the code, and the method, requestId and clientMessageId of the request it answers. */
function error(code: string, context: { method?: string; requestId?: string; clientMessageId?: string } = {}): View {
  const view: View = { method: 'ERROR', code };
  // An unknown method may be echoed shortened; its name is then not predictable.
  if (context.method !== undefined) view.for = context.method.length <= MAX_TAG ? context.method : expect.any(String);
  if (context.requestId !== undefined) view.requestId = context.requestId;
  if (context.clientMessageId !== undefined) view.clientMessageId = context.clientMessageId;
  return view;
}

/**
 * What one frame brings on `conn`, updating `conn` and the world as the frame should. Nothing
 * comes back on a connection that is closing.
 */
export function expectFrame(wire: Wire, conn: Connection, world: World): Outcome {
  if (conn.closed) return { replies: [], bystander: [] };
  const bytes = wireBytes(wire);
  if (bytes.length > MAX_FRAME_BYTES) {
    conn.closed = true;
    return { replies: [], bystander: [], close: 1009, alone: true };
  }
  const BAD_FRAME = only(error('BAD_FRAME'));
  if ('binary' in wire && wire.binary) return BAD_FRAME;
  const text = strictUtf8(bytes);
  if (text === null) return BAD_FRAME;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return BAD_FRAME;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return BAD_FRAME;
  const { method, data: rawData } = parsed as { method?: unknown; data?: unknown };
  if (typeof method !== 'string') return BAD_FRAME;

  const data = rawData ?? {};
  const isObject = typeof data === 'object' && !Array.isArray(data);
  const fields = (isObject ? data : {}) as Record<string, unknown>;
  const rid = tag(fields.requestId);
  const requestId = rid === 'absent' || rid === 'invalid' ? undefined : rid;
  const cmid = method === 'SEND_MESSAGE' && isObject && rid !== 'invalid' ? tag(fields.clientMessageId) : 'absent';
  const context = { method, requestId, clientMessageId: cmid === 'absent' || cmid === 'invalid' ? undefined : cmid };

  if (!KNOWN_METHODS.has(method)) return only(error('UNKNOWN_METHOD', { method, requestId }));
  // Spec §2.4: before sign-in, any method but AUTHENTICATE and PING, whatever its data.
  if (conn.userId === null && !PRE_AUTH_METHODS.has(method)) return only(error('UNAUTHENTICATED', context));
  if (!isObject || rid === 'invalid') return only(error('INVALID_DATA', { method }));
  const invalid = only(error('INVALID_DATA', context));
  const notFound = only(error('NOT_FOUND', context));
  const user = conn.userId as string;

  switch (method) {
    case 'PING':
      return only({ method: 'PONG', requestId });
    case 'AUTHENTICATE': {
      const failed = (): Outcome => {
        // A failed sign-in ends the connection (4401); a failed refresh leaves it signed in.
        if (conn.userId !== null) return only(error('UNAUTHENTICATED', context));
        conn.closed = true;
        return { ...only(error('UNAUTHENTICATED', context)), close: 4401 };
      };
      const { token, lastMessageId } = fields;
      if (typeof token !== 'string' || token === '') return failed();
      const resume = lastMessageId !== undefined && lastMessageId !== null;
      if (resume && wireId(lastMessageId) === null && lastMessageId !== 0 && lastMessageId !== '0') return invalid;
      const signedInAs = world.tokens.get(token);
      if (signedInAs === undefined) return failed();
      if (conn.userId !== null && conn.userId !== signedInAs) return only(error('FORBIDDEN', context));
      conn.userId = signedInAs;
      return only({ method: 'INIT', userId: signedInAs, missed: resume });
    }
    case 'SEND_MESSAGE': {
      const conversationId = wireId(fields.conversationId);
      if (conversationId === null || cmid === 'invalid' || !contentOk(fields.content)) return invalid;
      if (!world.member(conversationId, user)) return notFound;
      const key = `${user}\u0000${context.clientMessageId}`;
      const original = context.clientMessageId === undefined ? undefined : world.sentWith.get(key);
      // Spec §2.3: a repeated clientMessageId stores nothing and answers the sender alone, with the original.
      if (original !== undefined) return only({ method: 'MESSAGE_SENT', requestId, message: messageView(original) });
      const message: Message = { id: null, conversationId, author: user, content: fields.content, clientMessageId: context.clientMessageId ?? null, deleted: false };
      world.pending.push(message);
      if (message.clientMessageId !== null) world.sentWith.set(key, message);
      return {
        replies: [{ view: { method: 'MESSAGE_SENT', requestId, message: messageView(message) }, creates: true }],
        bystander: world.member(conversationId, world.bystander) ? [{ view: { method: 'MESSAGE_SENT', message: messageView(message) } }] : [],
      };
    }
    case 'OPEN_CONVERSATION':
    case 'TYPING': {
      const conversationId = wireId(fields.conversationId);
      if (conversationId === null) return invalid;
      if (!world.member(conversationId, user)) return notFound;
      const bystanderIsMember = world.member(conversationId, world.bystander);
      if (method === 'TYPING') {
        // To the other members' connections only: not the typist's, and no answer.
        const toBystander = bystanderIsMember && world.bystander !== user;
        return { replies: [], bystander: toBystander ? [{ view: { method: 'TYPING', conversationId, userId: user } }] : [] };
      }
      const seen = { view: { method: 'CONVERSATION_SEEN', conversationId, userId: user } };
      return { replies: [seen], bystander: bystanderIsMember ? [seen] : [] };
    }
    case 'FETCH_MESSAGES': {
      const conversationId = wireId(fields.conversationId);
      const limit = fetchLimit(fields.limit);
      const before = fields.before === undefined || fields.before === null ? 'none' : wireId(fields.before);
      if (conversationId === null || limit === null || before === null) return invalid;
      if (!world.member(conversationId, user)) return notFound;
      // Later frames of the case may change these messages: the answer shows them as they are now.
      const known = new Map([...world.messages].filter(([, m]) => m.conversationId === conversationId).map(([id, m]) => [id, JSON.stringify(messageView(m, id))]));
      const page = { conversationId, limit, before: before === 'none' ? null : BigInt(before), known };
      return { replies: [{ view: { method: 'MESSAGES', requestId, conversationId, page: 'ok' }, page }], bystander: [] };
    }
    case 'EDIT_MESSAGE':
    case 'DELETE_MESSAGE': {
      // Spec §2.3: INVALID_DATA, then NOT_FOUND, then FORBIDDEN.
      const messageId = wireId(fields.messageId);
      if (messageId === null || (method === 'EDIT_MESSAGE' && !contentOk(fields.content))) return invalid;
      const message = world.messages.get(messageId);
      if (message === undefined || !world.member(message.conversationId, user)) return notFound;
      if (method === 'EDIT_MESSAGE' && message.deleted) return notFound;
      if (message.author !== user) return only(error('FORBIDDEN', context));
      const event = method === 'EDIT_MESSAGE' ? 'MESSAGE_EDITED' : 'MESSAGE_DELETED';
      // Deleting a deleted message answers with the same tombstone and tells no one else.
      const tellOthers = !message.deleted && world.member(message.conversationId, world.bystander);
      if (method === 'EDIT_MESSAGE') message.content = fields.content as string;
      else message.deleted = true;
      return {
        replies: [{ view: { method: event, requestId, message: messageView(message) } }],
        bystander: tellOthers ? [{ view: { method: event, message: messageView(message) } }] : [],
      };
    }
  }
  throw new Error(`the oracle has no rule for ${method}`);
}

