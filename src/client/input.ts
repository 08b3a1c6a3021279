/**
 * Checks of what an app passes to the client's methods, so a wrong argument fails at once with
 * INVALID_DATA naming the field instead of a round trip (or a frame the server closes on).
 */
import { MassengerError } from './errors.js';
import type { Id } from './frames.js';

/** The longest requestId and clientMessageId the server accepts (contract §2). */
const MAX_TAG_CHARS = 64;

/** A positive integer or its decimal string (contract §2: ids may be sent either way). */
export function toId(value: Id | number, name: string): Id {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return String(value);
  if (typeof value === 'string' && /^[0-9]{1,19}$/.test(value) && /[1-9]/.test(value)) return value;
  throw new MassengerError('INVALID_DATA', `${name} must be an id (a positive integer or its decimal string), got ${JSON.stringify(value)}`);
}

/** A message body; the server applies the content rules (1 to 4000 characters, not only white space). */
export function toContent(content: unknown): string {
  if (typeof content !== 'string') throw new MassengerError('INVALID_DATA', 'content must be a string');
  return content;
}

export function toLimit(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new MassengerError('INVALID_DATA', `limit must be an integer from 1 to 100, got ${JSON.stringify(limit)}`);
  }
  return limit;
}

/** The caller's clientMessageId, or 128 random bits as hex: an id no other send of the author has. */
export function toClientMessageId(value: unknown): string {
  if (value === undefined) {
    const bytes = new Uint8Array(16);
    (globalThis as unknown as { crypto: { getRandomValues(a: Uint8Array): Uint8Array } }).crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  if (typeof value !== 'string' || value.length === 0 || [...value].length > MAX_TAG_CHARS) {
    throw new MassengerError('INVALID_DATA', `clientMessageId must be a string of 1 to ${MAX_TAG_CHARS} characters`);
  }
  return value;
}
