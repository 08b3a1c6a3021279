/**
 * Two real processes started at the same moment on one empty PostgreSQL database: the advisory
 * lock lets one migrate while the other waits (src/store/migrate.ts), and both then serve.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../support/client.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { freshDatabase } from '../support/pg.js';
import { needs } from '../support/services.js';
import { ensureBuilt, killAll, startServer, stop, waitUntilServing } from './proc.js';

describe.runIf(await needs('postgres'))('node dist/src/main.js on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    await ensureBuilt();
    database = await freshDatabase();
  }, 150_000);
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await killAll();
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function query<Row>(sql: string, values: unknown[] = []): Promise<Row[]> {
    const client = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      return (await client.query(sql, values)).rows as Row[];
    } finally {
      await client.end();
    }
  }

  it('two processes starting together on an empty database both migrate safely and serve', async () => {
    expect(await query("SELECT 1 FROM information_schema.tables WHERE table_name = 'users'")).toEqual([]);
    const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_SECRET };
    const [one, two] = await Promise.all([startServer(env), startServer(env)]);
    await Promise.all([waitUntilServing(one!, '/readyz'), waitUntilServing(two!, '/readyz')]);
    for (const server of [one!, two!]) {
      expect(server.stderr()).toBe('');
      expect(server.stdout()).not.toMatch(/"level":50/);
    }
    const versions = await query<{ version: number }>('SELECT version FROM massenger_migrations ORDER BY version');
    expect(versions.length).toBeGreaterThan(0);
    expect(new Set(versions.map((v) => v.version)).size).toBe(versions.length);

    // Both serve the same data: a conversation started on one is read on the other.
    const [alice, bob] = await query<{ id: string }>("INSERT INTO users (username) VALUES ('alice'), ('bob') RETURNING id");
    const headers = { authorization: `Bearer ${await signToken(alice!.id)}`, 'content-type': 'application/json' };
    const started = await fetch(`${one!.http}/massenger/startConversation`, { method: 'POST', headers, body: JSON.stringify({ userIds: [bob!.id] }) });
    expect(started.status).toBe(200);
    const { conversationId } = ((await started.json()) as { data: { conversationId: string } }).data;
    const listed = await fetch(`${two!.http}/massenger`, { headers });
    expect(((await listed.json()) as any).data.conversations.map((c: any) => c.id)).toEqual([conversationId]);

    // And each takes WebSocket sign-ins.
    for (const server of [one!, two!]) {
      const client = await TestClient.open(server.ws);
      clients.push(client);
      client.send('AUTHENTICATE', { token: await signToken(bob!.id) });
      const init = await client.next('INIT');
      expect(init.data.conversations.map((c: any) => c.id)).toEqual([conversationId]);
    }

    const [stopOne, stopTwo] = await Promise.all([stop(one!), stop(two!)]);
    expect(stopOne!.code).toBe(0);
    expect(stopTwo!.code).toBe(0);
  }, 60_000);
});
