/**
 * The development sign-in behind the two-minute demo: `GET /dev/users` lists users to sign in as
 * (making the demo users alice, bob, carol and dave first when there are no users at all), and
 * `POST /dev/token {userId}` signs a token for one of them with the development key pair.
 *
 * It exists only while no JWT key or secret is configured (`devSignInEnabled`): the main API then
 * issues every token and these routes are 404 like any unknown route. Even in development it
 * answers loopback callers only, since the default HOST listens on every interface and a token
 * for any user is a sign-in as that user.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { parseId } from '../../protocol/codec.js';
import type { Db } from '../../store/store.js';
import { ok } from '../envelope.js';
import { answers, data, ID } from './openapi.js';

/** What the development routes need: the database (users stand in for the main API's) and a signer. */
export interface DevSignIn {
  db: Pick<Db, 'query' | 'transaction'>;
  /** A token this node accepts for `userId`, with an `exp`. */
  signToken(userId: string): Promise<string>;
}

/** Users `GET /dev/users` lists at most, oldest first. */
const MAX_LISTED = 50;
const DEMO_USERNAMES = ['alice', 'bob', 'carol', 'dave'];
/** Serialises seeding across nodes sharing one database (any constant; this one spells "demo"). */
const SEED_LOCK = 0x64656d6f;

/** True when neither JWT_PUBLIC_KEY(_FILE) nor JWT_SECRET is set: the node signs with its own dev keys. */
export function devSignInEnabled(config: Pick<Config, 'jwtPublicKey' | 'jwtSecret'>): boolean {
  return config.jwtPublicKey === null && config.jwtSecret === null;
}

export function devRoutes(app: FastifyInstance, deps: DevSignIn): void {
  // A plugin of its own, so the loopback check guards these two routes and nothing else.
  void app.register(
    async (dev) => {
      dev.addHook('onRequest', async (request) => {
        if (!fromLoopback(request.socket.remoteAddress)) {
          throw new AppError('FORBIDDEN', 'the development sign-in answers loopback callers only');
        }
      });

      const loopbackOnly = 'not from a loopback address';
      const users: FastifySchema = {
        summary: 'Users to sign in as (the demo users are made when there are none)',
        tags: ['development'],
        answers: answers({
          200: data('At most 50 users, oldest first.', { users: { type: 'array', items: { type: 'object', required: ['id', 'username'], properties: { id: ID, username: { type: 'string' } } } } }),
          403: loopbackOnly,
        }),
      };
      dev.get('/users', { schema: users }, async () => {
        await seedDemoUsers(deps.db);
        const { rows } = await deps.db.query<{ id: string; username: string }>(
          'SELECT id, username FROM users ORDER BY id LIMIT $1',
          [MAX_LISTED],
        );
        return ok({ users: rows.map((row) => ({ id: String(row.id), username: row.username })) });
      });

      dev.post<{ Body: { userId: string } }>(
        '/token',
        {
          schema: {
            summary: 'A token for one user, signed with the development key',
            tags: ['development'],
            answers: answers({ 200: data('A JWT with an `exp`.', { token: { type: 'string' } }), 400: 'not a user id', 403: loopbackOnly }),
            body: { type: 'object', required: ['userId'], properties: { userId: { type: 'string', maxLength: 64 } } },
          },
        },
        async (request) => {
          const userId = parseId(request.body.userId);
          if (userId === null) throw new AppError('INVALID_DATA', 'userId must be a user id');
          return ok({ token: await deps.signToken(userId) });
        },
      );
    },
    { prefix: '/dev' },
  );
}

/**
 * On an empty users table, writes what `npm run demo-data` writes, as the main API would: four
 * users, a friendship (and private conversation) for every pair, and one group of all four. A
 * database that has any user already is left alone, so a shared one is never filled with strangers.
 */
async function seedDemoUsers(db: DevSignIn['db']): Promise<void> {
  const { rows } = await db.query('SELECT 1 FROM users LIMIT 1');
  if (rows.length > 0) return;
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK]);
    const again = await tx.query('SELECT 1 FROM users LIMIT 1');
    if (again.rows.length > 0) return; // another request or node seeded meanwhile
    const ids: string[] = [];
    for (const username of DEMO_USERNAMES) {
      const user = await tx.query<{ id: string }>('INSERT INTO users (username) VALUES ($1) RETURNING id', [username]);
      ids.push(String(user.rows[0]!.id));
    }
    const conversation = async (memberIds: string[]): Promise<string> => {
      const created = await tx.query<{ id: string }>('INSERT INTO conversations (created_at) VALUES (now()) RETURNING id');
      const id = String(created.rows[0]!.id);
      await tx.query(
        'INSERT INTO users_conversations (user_id, conversation_id, seen) SELECT unnest($1::bigint[]), $2::bigint, false',
        [memberIds, id],
      );
      return id;
    };
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const privateId = await conversation([ids[i]!, ids[j]!]);
        await tx.query(
          'INSERT INTO friendship (user1_id, user2_id, private_conversation_id, created_at) VALUES ($1, $2, $3, now())',
          [ids[i], ids[j], privateId],
        );
      }
    }
    await conversation(ids);
  });
}

/** The same test as the private API's loopback rule (auth.ts): IPv4, IPv6, or IPv4-mapped IPv6. */
function fromLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
