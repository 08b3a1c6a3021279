/**
 * The real process on embedded defaults (spec §4): no DATABASE_URL, no JWT settings. demo-data
 * and token use the same DATA_DIR as the server; demo-data runs while the server is stopped,
 * since PGlite holds its directory for one process.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../support/client.js';
import { ensureBuilt, killAll, runScript, startServer, stop, tempDir, waitUntilServing } from './proc.js';

const dirs: string[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  await ensureBuilt();
}, 150_000);
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await killAll();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface DemoUser {
  id: string;
  token: string;
}

/** Runs demo-data in a new DATA_DIR; returns the dir and the users it printed. */
async function demoData(): Promise<{ dir: string; users: Record<string, DemoUser> }> {
  const dir = tempDir();
  dirs.push(dir);
  const run = await runScript('demo-data', [], { DATA_DIR: dir });
  expect(run.code, run.stderr).toBe(0);
  const users: Record<string, DemoUser> = {};
  for (const [, name, id, token] of run.stdout.matchAll(/^(\w+)\s+id=([0-9]+)\s+token=(\S+)$/gm)) users[name!] = { id: id!, token: token! };
  expect(Object.keys(users).sort()).toEqual(['alice', 'bob', 'carol', 'dave']);
  return { dir, users };
}

async function signIn(ws: string, token: string): Promise<{ client: TestClient; init: Record<string, any> }> {
  const client = await TestClient.open(ws);
  clients.push(client);
  client.send('AUTHENTICATE', { token });
  // INIT carries no requestId (spec §2: only ERROR, MESSAGES, PONG and MESSAGE_SENT do).
  const init = await client.next('INIT').catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(client.frames)}`);
  });
  return { client, init: init.data };
}

/** The pino records the process wrote to stdout. */
function logRecords(stdout: string): Array<{ level: number; msg: string }> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
}

describe('node dist/src/main.js on embedded defaults', () => {
  it('starts, signs in with script-made tokens, relays chat, and keeps data across a restart', async () => {
    const { dir, users } = await demoData();
    const { alice, bob } = users as Record<'alice' | 'bob', DemoUser>;

    const first = await startServer({ DATA_DIR: dir });
    await waitUntilServing(first);
    const health = await fetch(`${first.http}/healthz`);
    expect(await health.json()).toEqual({ data: { status: 'up' }, errors: null });
    // No JWT settings: a dev key pair in DATA_DIR, and a warning saying so.
    expect(existsSync(join(dir, 'dev-keys', 'private.pem'))).toBe(true);
    const warnings = logRecords(first.stdout()).filter((r) => r.level === 40);
    expect(warnings.map((r) => r.msg)).toContainEqual(expect.stringMatching(/development key pair.*JWT_PUBLIC_KEY or JWT_SECRET/));
    expect(first.stderr()).toBe('');

    // `npm run token` signs with the same key pair while the server runs.
    const tokenRun = await runScript('token', [alice.id], { DATA_DIR: dir });
    expect(tokenRun.code, tokenRun.stderr).toBe(0);
    const aliceToken = tokenRun.stdout.trim();
    expect(aliceToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const a = await signIn(first.ws, aliceToken);
    expect(a.init.userId).toBe(alice.id);
    // demo-data: three private conversations and one group.
    expect(a.init.conversations).toHaveLength(4);
    const b = await signIn(first.ws, bob.token);
    const friend = b.init.onlineFriends.find((f: any) => f.id === alice.id);
    expect(friend).toMatchObject({ id: alice.id, conversationId: expect.stringMatching(/^[0-9]+$/) });
    const privateConversation: string = friend.conversationId;
    expect((await a.client.next('USER_JOINED')).data).toEqual({ id: bob.id, userId: bob.id, conversationId: privateConversation });

    const ack = await a.client.request('SEND_MESSAGE', { conversationId: privateConversation, content: 'hello through the process' }, 'MESSAGE_SENT');
    expect(ack.method, JSON.stringify(ack.data)).toBe('MESSAGE_SENT');
    const message = ack.data.message;
    expect((await b.client.next('MESSAGE_SENT')).data.message).toEqual(message);

    expect(await stop(first)).toMatchObject({ code: 0 });

    const second = await startServer({ DATA_DIR: dir });
    await waitUntilServing(second);
    // The same key pair still verifies the earlier tokens; the message was stored.
    const again = await signIn(second.ws, bob.token);
    const conversation = again.init.conversations.find((c: any) => c.id === privateConversation);
    expect(conversation.lastMessage).toEqual(message);
    const fetched = await again.client.request('FETCH_MESSAGES', { conversationId: privateConversation }, 'MESSAGES');
    expect(fetched.data.messages).toEqual([message]);
    expect(await stop(second)).toMatchObject({ code: 0 });
  }, 60_000);

  it('closes open clients with 1001 on SIGTERM and exits 0 promptly', async () => {
    const { dir, users } = await demoData();
    const server = await startServer({ DATA_DIR: dir, SHUTDOWN_TIMEOUT_MS: '20000' });
    await waitUntilServing(server);
    const a = await signIn(server.ws, users.alice!.token);
    const b = await signIn(server.ws, users.bob!.token);
    const anonymous = await TestClient.open(server.ws);
    clients.push(anonymous);
    const result = await stop(server);
    expect(result.code).toBe(0);
    // Clients answer the close at once, so shutdown does not wait for SHUTDOWN_TIMEOUT_MS (20 s);
    // what remains is closing the embedded database.
    expect(result.ms).toBeLessThan(8000);
    for (const client of [a.client, b.client, anonymous]) expect((await client.closed).code).toBe(1001);
    expect(server.stderr()).toBe('');
    expect(logRecords(server.stdout()).some((r) => /shutting down/.test(r.msg))).toBe(true);
  }, 40_000);

  it('token refuses a bad user id with its usage line', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const run = await runScript('token', ['abc'], { DATA_DIR: dir });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/usage/);
  });
});
