/**
 * Edits, deletes, members and unread counts (spec §2.2, §2.3). Only adds (spec §4): a main-API
 * schema that already has rows keeps every row and column as it was.
 */
export const name = 'message_changes';

export const statements: string[] = [
  // A tombstone keeps its row (ids and paging stay intact) with the content erased and this set.
  `ALTER TABLE messages ADD COLUMN IF NOT EXISTS deleted_at timestamptz`,
  // "Is this conversation private?" for every page of conversations, and before any member change.
  `CREATE INDEX IF NOT EXISTS friendship_private_conversation_id_idx ON friendship (private_conversation_id)`,
  // Reconnect recovery reads, per conversation, the messages changed since a moment. Only changed
  // messages (every edit or delete moves updated_at past created_at) are indexed, so the index
  // stays as small as the number of edits and costs the storing path nothing.
  `CREATE INDEX IF NOT EXISTS messages_changed_idx ON messages (conversation_id, updated_at) WHERE updated_at > created_at`,
];
