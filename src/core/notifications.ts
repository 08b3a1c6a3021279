/**
 * Notifications from the main API (spec §3): the same shape arrives by `POST /socket/notifications`
 * and on the Redis channel NOTIFICATIONS, and both go through `parseNotification`.
 */
import { AppError } from '../errors.js';
import { encode, parseId } from '../protocol/codec.js';

/** Recipients of one notification, at most; a larger batch should be split by the main API. */
export const MAX_NOTIFICATION_USERS = 10000;

export interface Notification {
  userIds: string[];
  /** The NOTIFICATION_SENT frame, encoded once: the body less `users`. */
  text: string;
}

/** Validates `{users, content, ...}`; unknown fields pass through to the clients untouched. */
export function parseNotification(body: unknown): Notification | AppError {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return new AppError('INVALID_DATA', 'notification must be a JSON object {users, content, ...}');
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
  return { userIds: [...userIds], text: encode({ method: 'NOTIFICATION_SENT', data: payload }) };
}
