/**
 * Membership changes announce themselves: a trigger on users_conversations NOTIFYs the
 * conversation id on channel `massenger_members`, so every node drops its cached member list at
 * once, whoever changed it (massenger, or the main API writing to the shared database).
 * Only inserts, deletes and moves count: the seen columns, updated on every message, do not.
 * PostgreSQL folds identical notifications of one transaction, so creating a conversation of
 * 255 members sends one.
 */
export const name = 'members_notify';

export const statements: string[] = [
  `CREATE OR REPLACE FUNCTION massenger_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('massenger_members', OLD.conversation_id::text); END IF;
    IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('massenger_members', NEW.conversation_id::text); END IF;
    RETURN NULL;
  END $$`,
  `CREATE OR REPLACE TRIGGER massenger_members_changed
    AFTER INSERT OR DELETE OR UPDATE OF user_id, conversation_id ON users_conversations
    FOR EACH ROW EXECUTE FUNCTION massenger_members_changed()`,
];
