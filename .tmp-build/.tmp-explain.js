import { PgDb } from './src/store/db-pg.js';
import { SqlStore } from './src/store/sql-store.js';
import { freshDatabase } from './test/support/pg.js';
const database = await freshDatabase();
const db = new PgDb({ connectionString: database.url });
const store = new SqlStore(db);
await store.migrate();
await db.query(`INSERT INTO users (username) SELECT 'user' || g FROM generate_series(1, 200000) g`);
await db.query(`INSERT INTO friendship (user1_id, user2_id) SELECT g, 1 + (g * 31) % 200000 FROM generate_series(1, 200000) g`);
await db.query(`INSERT INTO conversations (created_at) SELECT now() - interval '30 days' + g * interval '1 second' FROM generate_series(1, 20000) g`);
await db.query(`INSERT INTO users_conversations (user_id, conversation_id) SELECT DISTINCT 1 + (c * 7 + k * 131) % 5000, c FROM generate_series(1, 20000) c, generate_series(0, 4) k`);
await db.query(`INSERT INTO users_conversations (user_id, conversation_id) SELECT 199999, c FROM generate_series(1, 20000, 10) c ON CONFLICT DO NOTHING`);
await db.query(`INSERT INTO messages (conversation_id, author_id, content, created_at, updated_at) SELECT 1 + (g % 20000), 1 + ((g % 20000) * 7) % 5000, 'msg ' || g, now() - interval '20 days' + g * interval '1 second', now() FROM generate_series(1, 400000) g`);
// Run the 001 backfill again on the new rows (as after an upgrade of an existing database).
await db.query(`DELETE FROM massenger_migrations`);
await store.migrate();
await db.query('ANALYZE');
const { rows: [u] } = await db.query('SELECT user_id, count(*) n FROM users_conversations GROUP BY user_id ORDER BY n DESC LIMIT 1');
console.log('user', u);
const CONV = `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT p.*, m.id AS m_id, m.content FROM (
      SELECT c.id, c.created_at, c.last_message_id, coalesce(c.last_activity_at, c.created_at) AS activity_at,
        c.last_message_id IS NOT NULL AND (uc.seen_message_id IS NULL OR uc.seen_message_id < c.last_message_id) AS unread
      FROM users_conversations uc JOIN conversations c ON c.id = uc.conversation_id
      WHERE uc.user_id = $1
      ORDER BY activity_at DESC, c.id DESC LIMIT 10
    ) p
    LEFT JOIN messages m ON m.id = p.last_message_id
    ORDER BY p.activity_at DESC, p.id DESC`;
const show = async (title, sql, values) => {
    console.log('\n== ' + title);
    for (const r of (await db.query(sql, values)).rows)
        console.log(r['QUERY PLAN']);
};
await show('conversations page', CONV, [u.user_id]);
await show('messages page', `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM messages m WHERE m.conversation_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT 51`, ['77', '300000']);
await show('members', `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT uc.conversation_id, u.id, u.username FROM users_conversations uc JOIN users u ON u.id = uc.user_id WHERE uc.conversation_id = ANY($1::bigint[]) ORDER BY u.id`, [['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']]);
await show('messagesSince', `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT m.* FROM users_conversations uc CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.conversation_id = uc.conversation_id AND m.id > $2 ORDER BY m.id LIMIT 1001) m WHERE uc.user_id = $1 ORDER BY m.id LIMIT 1001`, [u.user_id, '390000']);
await show('friends', `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT DISTINCT ON (friend_id) friend_id, private_conversation_id FROM (SELECT user2_id AS friend_id, private_conversation_id FROM friendship WHERE user1_id = $1 UNION ALL SELECT user1_id, private_conversation_id FROM friendship WHERE user2_id = $1) f WHERE friend_id <> $1 ORDER BY friend_id, private_conversation_id NULLS LAST`, ['5']);
const t = Date.now();
for (let i = 0; i < 200; i++)
    await store.conversations(u.user_id, { limit: 10 });
console.log('\nconversations() x200 ms/op', (Date.now() - t) / 200);
const { rows: [light] } = await db.query('SELECT user_id FROM users_conversations GROUP BY user_id ORDER BY count(*) LIMIT 1 OFFSET 100');
await show('conversations page, typical user', CONV, [light.user_id]);
await show('messagesSince, old afterId', `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT m.* FROM users_conversations uc CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.conversation_id = uc.conversation_id AND m.id > $2 ORDER BY m.id LIMIT 1001) m WHERE uc.user_id = $1 ORDER BY m.id LIMIT 1001`, [light.user_id, '1000']);
const t2 = Date.now();
for (let i = 0; i < 200; i++)
    await store.messagesSince(u.user_id, '1000', 1001);
console.log('\nmessagesSince(heavy user, old id, 1001) x200 ms/op', (Date.now() - t2) / 200);
await store.close();
await database.drop();
