/**
 * Database rows → the store's row types, and the checks every query shares. Column names are the
 * main API's schema (spec §4).
 */
import type { Db, MessageRow } from './store.js';

export type Queryable = Pick<Db, 'query'>;
export type Record_ = Record<string, unknown>;

export const MESSAGE_COLUMNS =
  'm.id, m.conversation_id, m.author_id, m.content, m.created_at, m.updated_at, m.deleted_at, m.client_message_id, m.prev_id';

/** Largest PostgreSQL bigint. */
export const MAX_BIGINT = 9223372036854775807n;

/** Columns are read by name with an optional prefix; ids go through String() because a main-API schema may use int4. */
export function toMessage(r: Record_, prefix = ''): MessageRow {
  return {
    id: String(r[`${prefix}id`]),
    conversationId: String(r[`${prefix}conversation_id`]),
    authorId: String(r[`${prefix}author_id`]),
    content: r[`${prefix}content`] as string,
    createdAt: r[`${prefix}created_at`] as Date,
    updatedAt: r[`${prefix}updated_at`] as Date,
    deletedAt: (r[`${prefix}deleted_at`] as Date | null | undefined) ?? null,
    clientMessageId: (r[`${prefix}client_message_id`] as string | null) ?? null,
    prevId: idOrNull(r[`${prefix}prev_id`]),
  };
}

export function idOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** A client-supplied id that cannot be a bigint names nothing, rather than failing the query. */
export function isId(id: string): boolean {
  return /^[0-9]{1,19}$/.test(id) && BigInt(id) <= MAX_BIGINT;
}
