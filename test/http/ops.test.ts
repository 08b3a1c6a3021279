/** Operations routes and unknown routes (spec §3) on a real node, on each backend. */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../scripts/support/fixtures.js';
import { waitUntil } from '../../scripts/support/wait.js';
import type { TestNode } from '../support/node.js';
import { freshDatabase } from '../support/pg.js';
import { PG_BASE_URL, needs } from '../support/services.js';
import { startNode } from '../support/node.js';
import { auth, backends, envelope, failure, name, success } from './support.js';

/** A /readyz answer names the database, and every check it reports (database, gateway, ...) is ok. */
function expectReady(data: Record<string, string>): void {
  expect(data).toHaveProperty('database');
  expect(data).toEqual(Object.fromEntries(Object.keys(data).map((name) => [name, 'ok'])));
}

for (const backend of backends) {
  describe(`operations routes (${backend.name})`, () => {
    let t: TestNode;
    beforeAll(async () => {
      t = await backend.start();
    });
    afterAll(async () => {
      await t?.close();
    });

    it('GET /healthz answers 200 in the envelope', async () => {
      expect(success(await t.node.app.inject({ method: 'GET', url: '/healthz' }))).toEqual({ status: 'up' });
    });

    it('GET /readyz answers 200 with the database and every other check ok', async () => {
      expectReady(success(await t.node.app.inject({ method: 'GET', url: '/readyz' })));
    });

    it('GET /metrics answers Prometheus text with the node\'s metrics after some traffic', async () => {
      const alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      const started = await t.node.app.inject({ method: 'POST', url: '/massenger/startConversation', headers: await auth(t, alice), payload: { userIds: [bob] } });
      const { conversationId } = success(started);
      const { client } = await t.signIn(alice);
      const sent = await client.request('SEND_MESSAGE', { conversationId, content: 'counted' }, 'MESSAGE_SENT');
      expect(sent.method).toBe('MESSAGE_SENT');
      client.send('NO_SUCH_METHOD', {});
      // Replies on one connection keep their order: once PONG is here, the ERROR is too. (Not
      // next('ERROR'): signIn leaves an ERROR waiter behind that would take that frame.)
      await client.request('PING', {}, 'PONG');
      expect(client.all('ERROR').map((f) => f.data.code)).toEqual(['UNKNOWN_METHOD']);

      const res = await t.node.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = res.body;
      expect(text).toMatch(/^# TYPE massenger_connections gauge$/m);
      expect(text).toMatch(/^massenger_connections [1-9][0-9]*$/m);
      expect(text).toMatch(/^# TYPE massenger_online_users gauge$/m);
      expect(text).toMatch(/^massenger_online_users [1-9][0-9]*$/m);
      // Without REDIS_URL there is no Redis to route through: never "alone" in that sense.
      expect(text).toMatch(/^massenger_bus_alone 0$/m);
      expect(text).toMatch(/^massenger_frames_in_total\{method="AUTHENTICATE"\} [1-9][0-9]*$/m);
      expect(text).toMatch(/^massenger_frames_in_total\{method="SEND_MESSAGE"\} [1-9][0-9]*$/m);
      expect(text).toMatch(/^massenger_frames_out_total\{method="INIT"\} [1-9][0-9]*$/m);
      expect(text).toMatch(/^massenger_frames_out_total\{method="MESSAGE_SENT"\} [1-9][0-9]*$/m);
      expect(text).toMatch(/^massenger_errors_total\{code="UNKNOWN_METHOD"\} [1-9][0-9]*$/m);
      expect(text).toMatch(/^# TYPE massenger_store_seconds histogram$/m);
      expect(text).toMatch(/^massenger_store_seconds_bucket\{le="\+Inf",operation="append_messages"\} [1-9][0-9]*$/m);
      expect(text).toMatch(/^massenger_store_seconds_count\{operation="append_messages"\} [1-9][0-9]*$/m);
      // Every non-comment line is `name{labels} value`.
      for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfa]+$/);
      }
      client.close();
      await client.closed;
    });

    it('counts HTTP errors in massenger_errors_total too', async () => {
      const count = async () => {
        const text = (await t.node.app.inject({ method: 'GET', url: '/metrics' })).body;
        return Number(/^massenger_errors_total\{code="UNAUTHENTICATED"\} ([0-9]+)$/m.exec(text)?.[1] ?? 0);
      };
      const before = await count();
      failure(await t.node.app.inject({ method: 'GET', url: '/massenger' }), 401);
      expect(await count()).toBe(before + 1);
    });

    it.each([
      ['GET', '/nowhere'],
      ['GET', '/massenger/1/messages'],
      ['DELETE', '/massenger'],
      ['PUT', '/massenger/startConversation'],
      ['GET', '/socket/notifications'],
      ['POST', '/healthz'],
    ])('answers an unknown route %s %s with a 404 envelope', async (method, url) => {
      const res = await t.node.app.inject({ method: method as 'GET', url: `${url}?token=secret` });
      expect(failure(res, 404)).toBe(`no route ${method} ${url}`);
    });

    it('answers envelopes on every route, success or failure', async () => {
      const alice = await createUser(t.db, name('alice'));
      const headers = await auth(t, alice);
      for (const [method, url] of [
        ['GET', '/healthz'],
        ['GET', '/readyz'],
        ['GET', '/massenger'],
        ['GET', '/massenger/1'],
        ['POST', '/massenger/startConversation'],
        ['POST', '/socket/notifications'],
        ['GET', '/nope'],
      ] as const) {
        envelope(await t.node.app.inject({ method, url, headers }));
        envelope(await t.node.app.inject({ method, url }));
      }
    });
  });
}

describe.runIf(await needs('postgres'))('GET /readyz while PostgreSQL refuses connections', () => {
  let t: TestNode;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  beforeAll(async () => {
    database = await freshDatabase();
    t = await startNode({ DATABASE_URL: database.url, DB_CONNECT_TIMEOUT_MS: '500' });
  });
  afterAll(async () => {
    if (database !== undefined) await admin(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`).catch(() => {});
    await t?.close().catch(() => {});
    await database?.drop();
  });

  it('answers 503 naming the database, then 200 once it is back', async () => {
    expectReady(success(await t.node.app.inject({ method: 'GET', url: '/readyz' })));
    await admin(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS false`);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database.name}' AND pid <> pg_backend_pid()`);
    const started = Date.now();
    const down = await t.node.app.inject({ method: 'GET', url: '/readyz' });
    expect(failure(down, 503)).toMatch(/database/);
    expect(Date.now() - started).toBeLessThan(5000);
    // The process itself is still up.
    success(await t.node.app.inject({ method: 'GET', url: '/healthz' }));

    await admin(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`);
    let res = await t.node.app.inject({ method: 'GET', url: '/readyz' });
    const ready = async () => (res = await t.node.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200;
    await waitUntil(ready, () => `/readyz 200 (last ${res.statusCode} ${res.body})`, 2000, 100);
    expectReady(success(res));
  });
});
