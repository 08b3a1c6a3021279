/**
 * Pure decode/encode of WebSocket frames (spec §2). `decode` never throws: a frame that is not a
 * valid request comes back as an AppError whose `context` says which request it was, so the
 * ERROR reply can carry `method` and `requestId`.
 */
import { isUtf8 } from 'node:buffer';
import { AppError } from '../errors.js';
import type { ClientFrame, ClientMethod, Id, ServerFrame } from './frames.js';

/** Spec §2.3: content is 1 to 4000 characters. */
export const MAX_CONTENT_CHARS = 4000;
/** Spec §2: requestId and clientMessageId are at most 64 characters. */
export const MAX_TAG_CHARS = 64;
/** Spec §2.1: FETCH_MESSAGES limit defaults to 50 and is at most 100. */
export const DEFAULT_FETCH_LIMIT = 50;
export const MAX_FETCH_LIMIT = 100;

const METHODS: ReadonlySet<string> = new Set<ClientMethod>([
  'AUTHENTICATE',
  'SEND_MESSAGE',
  'OPEN_CONVERSATION',
  'TYPING',
  'FETCH_MESSAGES',
  'EDIT_MESSAGE',
  'DELETE_MESSAGE',
  'PING',
]);

/** Largest PostgreSQL bigint; a larger id cannot name a row. */
const MAX_ID = 9223372036854775807n;
const DIGITS = /^[0-9]{1,19}$/;

/** Normalises a wire id (JSON number or decimal string) to a decimal string, or null when it is not one. */
export function parseId(value: unknown): Id | null {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 ? String(value) : null;
  }
  if (typeof value !== 'string' || !DIGITS.test(value)) return null;
  const n = BigInt(value);
  return n > 0n && n <= MAX_ID ? n.toString() : null;
}

/** Counts code points, not UTF-16 units, so an emoji is one character; stops counting past `max`. */
function charLength(s: string, max: number): number {
  if (s.length <= max) return s.length;
  let n = 0;
  for (const _ of s) if (++n > max) break;
  return n;
}

/** A message body as spec §2.3 has it; null when acceptable, else the reason. */
export function checkContent(value: unknown): string | null {
  if (typeof value !== 'string') return 'content must be a string';
  const n = charLength(value, MAX_CONTENT_CHARS);
  if (n < 1 || n > MAX_CONTENT_CHARS) return `content must be 1 to ${MAX_CONTENT_CHARS} characters`;
  if (!/\S/u.test(value)) return 'content must not be only white space';
  // PostgreSQL text cannot hold NUL, and a lone surrogate cannot be stored "as sent" in UTF-8.
  if (value.includes('\u0000')) return 'content must not contain NUL characters';
  if (!value.isWellFormed()) return 'content must be well-formed Unicode';
  return null;
}

function invalid(message: string, method: string, requestId: string | undefined): AppError {
  return new AppError('INVALID_DATA', message, undefined, { method, requestId });
}

/**
 * A requestId or clientMessageId: 1 to 64 characters of well-formed Unicode without NUL. A
 * clientMessageId is stored, and PostgreSQL would turn lone surrogates into U+FFFD, so two
 * different ids could become one and a message would be dropped as a "repeat".
 */
function optionalTag(data: Record<string, unknown>, field: string): string | undefined | false {
  const v = data[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || charLength(v, MAX_TAG_CHARS) > MAX_TAG_CHARS) return false;
  if (v.includes('\u0000') || !v.isWellFormed()) return false;
  return v;
}

/** Decodes one client frame. Never throws. */
export function decode(raw: string | Buffer, isBinary: boolean): ClientFrame | AppError {
  if (isBinary) return new AppError('BAD_FRAME', 'binary frames are not accepted; send UTF-8 JSON text');
  if (typeof raw !== 'string' && !isUtf8(raw)) return new AppError('BAD_FRAME', 'frame is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return new AppError('BAD_FRAME', 'frame is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return new AppError('BAD_FRAME', 'frame must be a JSON object {"method", "data"}');
  }
  const { method, data: rawData } = parsed as { method?: unknown; data?: unknown };
  if (typeof method !== 'string') return new AppError('BAD_FRAME', 'frame must have a string "method"');

  const data = rawData === undefined || rawData === null ? {} : rawData;
  const dataIsObject = typeof data === 'object' && !Array.isArray(data);
  const fields = (dataIsObject ? data : {}) as Record<string, unknown>;
  // requestId is read first so that even an invalid request gets it back.
  const requestId = optionalTag(fields, 'requestId');
  const echo = typeof requestId === 'string' ? requestId : undefined;
  if (!METHODS.has(method)) {
    return new AppError('UNKNOWN_METHOD', `unknown method ${JSON.stringify(method.slice(0, 64))}`, undefined, {
      method: method.slice(0, 64),
      requestId: echo,
    });
  }
  if (!dataIsObject) return invalid('data must be an object', method, echo);
  if (requestId === false) return invalid(`requestId must be a string of 1 to ${MAX_TAG_CHARS} characters`, method, undefined);
  const base = echo === undefined ? {} : { requestId: echo };

  switch (method as ClientMethod) {
    case 'AUTHENTICATE': {
      const token = fields.token;
      // No token is a failed sign-in (spec §2.4: ERROR UNAUTHENTICATED, then 4401), not a data slip.
      if (typeof token !== 'string' || token.length === 0) {
        return new AppError('UNAUTHENTICATED', 'token must be a non-empty string', undefined, { method, requestId: echo });
      }
      if (fields.lastMessageId === undefined || fields.lastMessageId === null) {
        return { method: 'AUTHENTICATE', data: { ...base, token } };
      }
      const lastMessageId = parseId(fields.lastMessageId) ?? (fields.lastMessageId === 0 || fields.lastMessageId === '0' ? '0' : null);
      if (lastMessageId === null) return invalid('lastMessageId must be an id', method, echo);
      return { method: 'AUTHENTICATE', data: { ...base, token, lastMessageId } };
    }
    case 'SEND_MESSAGE': {
      const conversationId = parseId(fields.conversationId);
      const clientMessageId = optionalTag(fields, 'clientMessageId');
      const context = { method, requestId: echo, clientMessageId: typeof clientMessageId === 'string' ? clientMessageId : undefined };
      if (conversationId === null) return new AppError('INVALID_DATA', 'conversationId must be an id', undefined, context);
      if (clientMessageId === false) {
        return new AppError('INVALID_DATA', `clientMessageId must be a string of 1 to ${MAX_TAG_CHARS} well-formed characters`, undefined, context);
      }
      const problem = checkContent(fields.content);
      if (problem !== null) return new AppError('INVALID_DATA', problem, undefined, context);
      const content = fields.content as string;
      return {
        method: 'SEND_MESSAGE',
        data: clientMessageId === undefined ? { ...base, conversationId, content } : { ...base, conversationId, content, clientMessageId },
      };
    }
    case 'OPEN_CONVERSATION':
    case 'TYPING': {
      const conversationId = parseId(fields.conversationId);
      if (conversationId === null) return invalid('conversationId must be an id', method, echo);
      return { method: method as 'OPEN_CONVERSATION' | 'TYPING', data: { ...base, conversationId } };
    }
    case 'FETCH_MESSAGES': {
      const conversationId = parseId(fields.conversationId);
      if (conversationId === null) return invalid('conversationId must be an id', method, echo);
      let limit = DEFAULT_FETCH_LIMIT;
      if (fields.limit !== undefined && fields.limit !== null) {
        const n = typeof fields.limit === 'string' && /^[0-9]{1,4}$/.test(fields.limit) ? Number(fields.limit) : fields.limit;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_FETCH_LIMIT) {
          return invalid(`limit must be an integer from 1 to ${MAX_FETCH_LIMIT}`, method, echo);
        }
        limit = n;
      }
      if (fields.before === undefined || fields.before === null) {
        return { method: 'FETCH_MESSAGES', data: { ...base, conversationId, limit } };
      }
      const before = parseId(fields.before);
      if (before === null) return invalid('before must be an id', method, echo);
      return { method: 'FETCH_MESSAGES', data: { ...base, conversationId, before, limit } };
    }
    case 'EDIT_MESSAGE':
    case 'DELETE_MESSAGE': {
      // Spec §2.3: INVALID_DATA comes before any look-up, so bad input never reveals what exists.
      const messageId = parseId(fields.messageId);
      if (messageId === null) return invalid('messageId must be an id', method, echo);
      if (method === 'DELETE_MESSAGE') return { method, data: { ...base, messageId } };
      const problem = checkContent(fields.content);
      if (problem !== null) return invalid(problem, method, echo);
      return { method: 'EDIT_MESSAGE', data: { ...base, messageId, content: fields.content as string } };
    }
    case 'PING':
      return { method: 'PING', data: base };
  }
}

/** Encodes a server frame once; fan-out sends the same string to every recipient. */
export function encode(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/**
 * The requester's copy of an encoded frame: `text` with `requestId` added last to its data, the
 * text encode() gives for that frame with `data.requestId` set (spec §2: direct replies carry it
 * back). A message is encoded once for all its members, and the sender's copy is made from that
 * text rather than by encoding the message a second time. `text` must come from encode(), with a
 * data object that has at least one field: it then ends with the closing braces of data and frame.
 */
export function withRequestIdText(text: string, requestId: string | undefined): string {
  if (requestId === undefined) return text;
  return `${text.slice(0, -2)},"requestId":${JSON.stringify(requestId)}}}`;
}

/** The ERROR frame for an AppError raised while handling a request. */
export function errorFrame(err: AppError): ServerFrame {
  const data: Extract<ServerFrame, { method: 'ERROR' }>['data'] = { code: err.code, message: err.message };
  const ctx = err.context;
  if (ctx?.method !== undefined) data.method = ctx.method;
  if (ctx?.requestId !== undefined) data.requestId = ctx.requestId;
  if (ctx?.clientMessageId !== undefined) data.clientMessageId = ctx.clientMessageId;
  return { method: 'ERROR', data };
}
