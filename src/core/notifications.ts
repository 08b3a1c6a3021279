/**
 * Notifications from the main API (spec §3): the same shape arrives by `POST /socket/notifications`
 * and on the Redis channel NOTIFICATIONS, and both go through `parseNotification`.
 *
 * A notification is free-form JSON passed on to clients, so its shape is bounded before anything
 * walks it recursively: JSON.stringify (the encoder) overflows the stack near 6,000 levels of
 * nesting (issue 7, defect 4). JSON.parse itself is iterative in V8, and the HTTP body is capped
 * by the app's bodyLimit, so a deep body parses fine and is refused here.
 */
import { AppError } from '../errors.js';
import { encode, parseId } from '../protocol/codec.js';

/** Recipients of one notification, at most; a larger batch should be split by the main API. */
export const MAX_NOTIFICATION_USERS = 10000;

/**
 * Levels of nesting in a notification body, the body itself being level 1 (`{"users": [...]}`
 * is 2 levels). Real notifications (`{content, name?, img?}`) use 1 or 2.
 */
export const MAX_NOTIFICATION_DEPTH = 32;

/**
 * UTF-8 bytes of the NOTIFICATION_SENT frame each recipient receives (the body less `users`),
 * the size of the default MAX_FRAME_BYTES: one notification is a short text, a name and a picture.
 */
export const MAX_NOTIFICATION_BYTES = 64 * 1024;

export interface Notification {
  userIds: string[];
  /** The NOTIFICATION_SENT frame, encoded once: the body less `users`. */
  text: string;
}

/**
 * Validates `{users, content, ...}`; unknown fields pass through to the clients untouched. Never
 * throws, whatever `body` holds (any value JSON.parse can return): a bad one is an INVALID_DATA.
 */
export function parseNotification(body: unknown): Notification | AppError {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return new AppError('INVALID_DATA', 'notification must be a JSON object {users, content, ...}');
  }
  if (exceedsDepth(body, MAX_NOTIFICATION_DEPTH)) {
    return new AppError('INVALID_DATA', `notification must nest at most ${MAX_NOTIFICATION_DEPTH} levels deep`);
  }
  const { users, ...payload } = body as Record<string, unknown>;
  if (!Array.isArray(users) || users.length === 0 || users.length > MAX_NOTIFICATION_USERS) {
    return new AppError('INVALID_DATA', `users must be an array of 1 to ${MAX_NOTIFICATION_USERS} user ids`);
  }
  const userIds = new Set<string>();
  for (const u of users) {
    const id = parseId(u);
    if (id === null) return new AppError('INVALID_DATA', 'users must hold user ids (decimal strings)');
    userIds.add(id);
  }
  if (typeof payload.content !== 'string' || payload.content.length === 0) {
    return new AppError('INVALID_DATA', 'content must be a non-empty string');
  }
  const text = encode({ method: 'NOTIFICATION_SENT', data: payload });
  if (Buffer.byteLength(text) > MAX_NOTIFICATION_BYTES) {
    return new AppError('INVALID_DATA', `notification must encode to at most ${MAX_NOTIFICATION_BYTES} bytes without users`);
  }
  return { userIds: [...userIds], text };
}

/**
 * Whether `value` nests deeper than `max` levels of objects and arrays. Iterative with an explicit
 * stack, so the check cannot itself overflow; it stops at the first value past `max`, and visits
 * each value once (JSON.parse output holds no cycles or shared parts).
 */
function exceedsDepth(value: object, max: number): boolean {
  const stack: Array<[object, number]> = [[value, 1]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [node, depth] = entry;
    if (depth > max) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
