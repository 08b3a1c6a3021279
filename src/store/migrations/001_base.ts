/**
 * The base schema. The main API owns users, friendship, conversations, users_conversations and
 * messages and may have created them already, with more columns: every statement here is
 * conditional and only creates or adds (spec §4: never drop or rename).
 *
 * One statement per string: PGlite runs parameterless queries through the extended protocol,
 * which takes a single command.
 */
export const name = 'base';

export const statements: string[] = [
  `CREATE TABLE IF NOT EXISTS users (
    id bigserial PRIMARY KEY,
    username text NOT NULL,
    profile_picture text,
    last_visit timestamptz
  )`,
  `CREATE TABLE IF NOT EXISTS conversations (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  // The primary key's index carries the name of the index created below for a main-API table
  // without one, so CREATE INDEX IF NOT EXISTS skips it here instead of building a duplicate.
  `CREATE TABLE IF NOT EXISTS users_conversations (
    user_id bigint NOT NULL REFERENCES users (id),
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    seen boolean NOT NULL DEFAULT false,
    CONSTRAINT users_conversations_user_id_conversation_id_idx PRIMARY KEY (user_id, conversation_id)
  )`,
  `CREATE TABLE IF NOT EXISTS friendship (
    user1_id bigint NOT NULL REFERENCES users (id),
    user2_id bigint NOT NULL REFERENCES users (id),
    private_conversation_id bigint REFERENCES conversations (id),
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE TABLE IF NOT EXISTS messages (
    id bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    author_id bigint NOT NULL REFERENCES users (id),
    content text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,

  // spec §2.3 idempotency: a clientMessageId is unique per author, whatever the conversation.
  `ALTER TABLE messages ADD COLUMN IF NOT EXISTS client_message_id text`,
  // The previous message of the same conversation: the bus delivers across nodes in this chain.
  `ALTER TABLE messages ADD COLUMN IF NOT EXISTS prev_id bigint`,
  // Maintained by appendMessage under the conversation's row lock.
  `ALTER TABLE conversations ADD COLUMN IF NOT EXISTS last_message_id bigint`,
  `ALTER TABLE conversations ADD COLUMN IF NOT EXISTS last_activity_at timestamptz`,
  // `seen` stays the main API's boolean; the id says exactly which message was seen.
  `ALTER TABLE users_conversations ADD COLUMN IF NOT EXISTS seen_message_id bigint`,
  `ALTER TABLE users_conversations ADD COLUMN IF NOT EXISTS seen_at timestamptz`,

  `CREATE UNIQUE INDEX IF NOT EXISTS messages_author_id_client_message_id_key
    ON messages (author_id, client_message_id) WHERE client_message_id IS NOT NULL`,
  // Paging (conversation_id = $1 AND id < $2 ORDER BY id DESC) and the newest message are index scans here.
  `CREATE INDEX IF NOT EXISTS messages_conversation_id_id_idx ON messages (conversation_id, id)`,
  `CREATE INDEX IF NOT EXISTS users_conversations_user_id_conversation_id_idx ON users_conversations (user_id, conversation_id)`,
  `CREATE INDEX IF NOT EXISTS users_conversations_conversation_id_idx ON users_conversations (conversation_id)`,
  `CREATE INDEX IF NOT EXISTS friendship_user1_id_idx ON friendship (user1_id)`,
  `CREATE INDEX IF NOT EXISTS friendship_user2_id_idx ON friendship (user2_id)`,

  // Backfill from messages written before massenger managed these columns.
  `UPDATE conversations c SET last_message_id = m.id, last_activity_at = m.created_at
    FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, created_at
          FROM messages ORDER BY conversation_id, id DESC) m
    WHERE m.conversation_id = c.id AND c.last_message_id IS NULL`,
  `UPDATE messages m SET prev_id = p.prev_id
    FROM (SELECT id, lag(id) OVER (PARTITION BY conversation_id ORDER BY id) AS prev_id FROM messages) p
    WHERE p.id = m.id AND m.prev_id IS NULL AND p.prev_id IS NOT NULL`,
  // A conversation the main API marked seen stays read: it was seen up to its newest message.
  `UPDATE users_conversations uc SET seen_message_id = c.last_message_id
    FROM conversations c
    WHERE c.id = uc.conversation_id AND uc.seen AND uc.seen_message_id IS NULL`,
];
