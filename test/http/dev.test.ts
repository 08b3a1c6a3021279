/**
 * The development sign-in (src/http/routes/dev.ts): with no JWT key or secret it lists demo users,
 * making them on an empty database, and signs tokens the node accepts, for loopback callers only;
 * with JWT_SECRET, JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE set it does not exist.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { devSignInEnabled } from '../../src/http/routes/dev.js';
import { TestClient } from '../support/client.js';
import type { TestNode } from '../support/node.js';
import { startNode } from '../support/node.js';
import { backends, failure, success } from './support.js';

/** startNode's test secret unset: the node signs with a development key pair in its DATA_DIR. */
const DEV_KEYS = { JWT_SECRET: '' };

for (const backend of backends) {
  describe(`development sign-in without JWT settings (${backend.name})`, () => {
    let t: TestNode;
    // PGlite loads a WebAssembly build: slow to start on a loaded 2-core machine.
    beforeAll(async () => {
      t = await backend.start(DEV_KEYS);
    }, 120_000);
    afterAll(async () => {
      await t?.close();
    });

    it('makes the demo users once, friends in pairs and together in a group, and lists them', async () => {
      // Two pages opening at once must not make the demo users twice.
      const [first, second] = await Promise.all([
        t.node.app.inject({ method: 'GET', url: '/dev/users' }),
        t.node.app.inject({ method: 'GET', url: '/dev/users' }),
      ]);
      const users = success(first).users as Array<{ id: string; username: string }>;
      expect(users.map((u) => u.username)).toEqual(['alice', 'bob', 'carol', 'dave']);
      expect(success(second).users).toEqual(users);
      expect(success(await t.node.app.inject({ method: 'GET', url: '/dev/users' })).users).toEqual(users);

      const friendships = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM friendship');
      expect(Number(friendships.rows[0]!.n)).toBe(6);
      const alice = users[0]!.id;
      const token = success(await t.node.app.inject({ method: 'POST', url: '/dev/token', payload: { userId: alice } })).token as string;
      const listed = success(await t.node.app.inject({ method: 'GET', url: '/massenger', headers: { authorization: `Bearer ${token}` } }));
      const conversations = listed.conversations as Array<{ private: boolean; users: unknown[] }>;
      expect(conversations.filter((c) => c.private)).toHaveLength(3);
      expect(conversations.filter((c) => !c.private).map((c) => c.users.length)).toEqual([4]);
    });

    it('signs a token the WebSocket accepts', async () => {
      const users = success(await t.node.app.inject({ method: 'GET', url: '/dev/users' })).users as Array<{ id: string }>;
      const bob = users[1]!.id;
      const token = success(await t.node.app.inject({ method: 'POST', url: '/dev/token', payload: { userId: bob } })).token as string;
      const client = await TestClient.open(t.ws);
      try {
        client.send('AUTHENTICATE', { token });
        const init = await client.next(['INIT', 'ERROR']);
        expect(init.method).toBe('INIT');
        expect(init.data.userId).toBe(bob);
      } finally {
        client.close();
      }
    });

    it('refuses a userId that is not an id with 400', async () => {
      failure(await t.node.app.inject({ method: 'POST', url: '/dev/token', payload: { userId: 'alice' } }), 400);
      failure(await t.node.app.inject({ method: 'POST', url: '/dev/token', payload: {} }), 400);
    });

    it('answers loopback callers only (403 from another address)', async () => {
      for (const request of [
        { method: 'GET' as const, url: '/dev/users' },
        { method: 'POST' as const, url: '/dev/token', payload: { userId: '1' } },
      ]) {
        expect(failure(await t.node.app.inject({ ...request, remoteAddress: '192.0.2.7' }), 403)).toMatch(/loopback/);
      }
    });
  });
}

describe('development sign-in with JWT settings', () => {
  let dir: string;
  let t: TestNode | null = null;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'massenger-dev-'));
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const publicPem = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('is enabled by none of JWT_SECRET, JWT_PUBLIC_KEY and JWT_PUBLIC_KEY_FILE', () => {
    const file = join(dir, 'public.pem');
    writeFileSync(file, publicPem());
    expect(devSignInEnabled(loadConfig({}))).toBe(true);
    expect(devSignInEnabled(loadConfig({ JWT_SECRET: 'a-secret-of-thirty-two-bytes-or-more!' }))).toBe(false);
    expect(devSignInEnabled(loadConfig({ JWT_PUBLIC_KEY: publicPem() }))).toBe(false);
    expect(devSignInEnabled(loadConfig({ JWT_PUBLIC_KEY_FILE: file }))).toBe(false);
  });

  it('is 404 on a node with a key, and makes no users', async () => {
    const file = join(dir, 'node.pem');
    writeFileSync(file, publicPem());
    t = await startNode({ JWT_SECRET: '', JWT_PUBLIC_KEY_FILE: file });
    failure(await t.node.app.inject({ method: 'GET', url: '/dev/users' }), 404);
    failure(await t.node.app.inject({ method: 'POST', url: '/dev/token', payload: { userId: '1' } }), 404);
    // The users belong to the main API: nothing was made on its database.
    expect((await t.db.query('SELECT 1 FROM users')).rows).toEqual([]);
  }, 120_000);

  it('is 404 on a node with JWT_SECRET (the test default)', async () => {
    await t?.close();
    t = await startNode();
    failure(await t.node.app.inject({ method: 'GET', url: '/dev/users' }), 404);
    failure(await t.node.app.inject({ method: 'POST', url: '/dev/token', payload: { userId: '1' } }), 404);
  }, 120_000);
});
