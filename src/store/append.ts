/**
 * Storing messages: the hot path of the store, and the one place where order is made (spec §2.3:
 * messages reach members in stored order; the bus orders by the prev_id chain made here). A batch
 * is one call of massenger_append_messages (migration 003 says how order, idempotency and the seen
 * marks are kept; 005 stores the batch as a set; 006 reads its members at once): one statement,
 * one commit, whatever the number of messages.
 */
import { AppError, conversationNotFound } from '../errors.js';
import { MESSAGE_COLUMNS, type Queryable, type Record_, toMessage } from './rows.js';
import type { AppendMessageInput, AppendOutcome, MessageRow } from './store.js';

/**
 * The times come back as epoch milliseconds and the members as one comma-separated text: pg's
 * parsers build a timestamp from a regular expression's matches and an array a character at a time,
 * and in an allocation profile at 5,000 msg/s those two made 14% of what the node allocated. floor()
 * gives the Date that pg's parser gives (a Date holds whole milliseconds; the parser drops the
 * microseconds), so a message reads back as it was answered.
 */
const APPEND_SQL = `SELECT n, outcome, message_id, message_prev_id,
  floor(extract(epoch FROM message_created_at) * 1000)::float8 AS created_ms,
  floor(extract(epoch FROM prev_created_at) * 1000)::float8 AS prev_created_ms,
  array_to_string(members, ',') AS members
FROM massenger_append_messages($1::bigint[], $2::bigint[], $3::text[], $4::text[])`;

/**
 * An empty batch: it runs every statement of the append function, so the connection plans them
 * (about 20 ms on an idle machine, several times that under load), and stores nothing.
 */
export const APPEND_WARM_UP = { text: APPEND_SQL, values: [[], [], [], []] };

/** Stores a batch in one transaction; outcomes come back in the order of `inputs`. */
export async function appendBatch(db: Queryable, inputs: readonly AppendMessageInput[]): Promise<AppendOutcome[]> {
  const { rows } = await db.query<Record_>(APPEND_SQL, [
    inputs.map((i) => i.conversationId),
    inputs.map((i) => i.authorId),
    inputs.map((i) => i.content),
    inputs.map((i) => i.clientMessageId),
  ]);
  const outcomes: AppendOutcome[] = new Array<AppendOutcome>(inputs.length);
  const duplicates: Array<{ index: number; id: string }> = [];
  // The members come once per conversation (on its first stored message): same list, same array.
  const membersOf = new Map<string, string[]>();
  for (const r of rows) {
    const input = inputs[Number(r.n) - 1];
    if (input !== undefined && r.members !== null) membersOf.set(input.conversationId, splitIds(r.members as string));
  }
  for (const r of rows) {
    const index = Number(r.n) - 1;
    const input = inputs[index];
    if (input === undefined) continue;
    switch (r.outcome) {
      case 'created': {
        const createdAt = new Date(r.created_ms as number);
        const message: MessageRow = {
          id: String(r.message_id),
          conversationId: input.conversationId,
          authorId: input.authorId,
          content: input.content,
          createdAt,
          updatedAt: createdAt,
          deletedAt: null,
          clientMessageId: input.clientMessageId,
          prevId: r.message_prev_id === null ? null : String(r.message_prev_id),
        };
        outcomes[index] = { message, created: true, prevCreatedAt: r.prev_created_ms === null ? null : new Date(r.prev_created_ms as number), members: membersOf.get(input.conversationId) ?? [] };
        break;
      }
      case 'duplicate':
        duplicates.push({ index, id: String(r.message_id) });
        break;
      default:
        outcomes[index] = conversationNotFound();
    }
  }
  if (duplicates.length > 0) {
    // Spec §2.3: a repeated clientMessageId answers with the original message, as stored.
    const originals = await byIds(db, duplicates.map((d) => d.id));
    for (const d of duplicates) {
      const original = originals.get(d.id);
      outcomes[d.index] = original === undefined ? new AppError('INTERNAL', 'the original message vanished') : { message: original, created: false, prevCreatedAt: null, members: null };
    }
  }
  for (let i = 0; i < inputs.length; i++) outcomes[i] ??= new AppError('INTERNAL', 'no outcome for a stored message');
  return outcomes;
}

async function byIds(db: Queryable, ids: string[]): Promise<Map<string, MessageRow>> {
  const { rows } = await db.query<Record_>(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.id = ANY($1::bigint[])`, [ids]);
  return new Map(rows.map((r) => [String(r.id), toMessage(r)]));
}

/** Ids joined by commas (ids hold digits only); none is the empty text. */
function splitIds(joined: string): string[] {
  return joined === '' ? [] : joined.split(',');
}
