/**
 * Bounds of a notification (issue 7, defect 4): depth and size are checked before anything walks
 * the body recursively, on both ways in (spec §3): `POST /socket/notifications` answers 400, and
 * the Redis channel NOTIFICATIONS drops and logs; neither crashes nor answers 500.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, openDb, type Node } from '../../src/build.js';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { MAX_NOTIFICATION_BYTES, MAX_NOTIFICATION_DEPTH, parseNotification } from '../../src/core/notifications.js';
import { BODY_LIMIT_BYTES } from '../../src/http/app.js';
import { TestClient } from '../support/client.js';
import { createUser } from '../../scripts/support/fixtures.js';
import { signToken, startNode, TEST_SECRET, type TestNode } from '../support/node.js';
import { needs, REDIS_TEST_URL } from '../support/services.js';
import { failure, name, success } from './support.js';

/** `levels` levels of nested arrays as JSON text: `[[[]]]` is 3. */
const nestedText = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
/** A notification body whose `extra` nests so that the whole body is `depth` levels deep. */
const bodyText = (users: string[], content: string, depth: number) =>
  `{"users":${JSON.stringify(users)},"content":${JSON.stringify(content)},"extra":${nestedText(depth - 1)}}`;
/** Bytes of the NOTIFICATION_SENT frame around an empty `content`. */
const FRAME_OVERHEAD = JSON.stringify({ method: 'NOTIFICATION_SENT', data: { content: '' } }).length;

function invalid(result: ReturnType<typeof parseNotification>): string {
  expect(result).toBeInstanceOf(AppError);
  expect((result as AppError).code).toBe('INVALID_DATA');
  return (result as AppError).message;
}

describe('parseNotification bounds', () => {
  it('accepts a body exactly MAX_NOTIFICATION_DEPTH deep and refuses one level more', () => {
    expect(parseNotification(JSON.parse(bodyText(['1'], 'x', MAX_NOTIFICATION_DEPTH)))).not.toBeInstanceOf(Error);
    expect(invalid(parseNotification(JSON.parse(bodyText(['1'], 'x', MAX_NOTIFICATION_DEPTH + 1))))).toBe(
      `notification must nest at most ${MAX_NOTIFICATION_DEPTH} levels deep`,
    );
    // Objects nest as arrays do.
    let deep: unknown = 'leaf';
    for (let i = 0; i < MAX_NOTIFICATION_DEPTH; i++) deep = { a: deep };
    invalid(parseNotification({ users: ['1'], content: 'x', deep }));
  });

  it('refuses, without throwing, the deepest body JSON.parse returns within the body limit', () => {
    const levels = Math.floor(BODY_LIMIT_BYTES / 2) - 100;
    expect(() => parseNotification(JSON.parse(bodyText(['1'], 'x', levels)))).not.toThrow();
    invalid(parseNotification(JSON.parse(bodyText(['1'], 'x', levels))));
  });

  it('bounds the frame clients receive to MAX_NOTIFICATION_BYTES of UTF-8, users not counted', () => {
    const fits = 'a'.repeat(MAX_NOTIFICATION_BYTES - FRAME_OVERHEAD);
    const result = parseNotification({ users: ['1'], content: fits });
    expect(Buffer.byteLength((result as { text: string }).text)).toBe(MAX_NOTIFICATION_BYTES);
    expect(invalid(parseNotification({ users: ['1'], content: `${fits}a` }))).toBe(
      `notification must encode to at most ${MAX_NOTIFICATION_BYTES} bytes without users`,
    );
    // Bytes, not characters: half as many two-byte characters plus one is too many.
    invalid(parseNotification({ users: ['1'], content: 'é'.repeat(MAX_NOTIFICATION_BYTES / 2 + 1) }));
    // The largest recipient list does not count against the frame.
    const users = Array.from({ length: 10000 }, (_, i) => String(1_000_000_000_000 + i));
    expect(parseNotification({ users, content: 'for many' })).toMatchObject({ userIds: users });
  });
});

describe('POST /socket/notifications bounds', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startNode();
  });
  afterAll(async () => {
    await t?.close();
  });

  const post = (payload: string) =>
    t.node.app.inject({ method: 'POST', url: '/socket/notifications', headers: { 'content-type': 'application/json' }, payload });

  it('issue 7 defect 4: a body nested 6,000 deep is a 400, not a 500, and the node keeps serving', async () => {
    const alice = await createUser(t.db, name('alice'));
    const { client } = await t.signIn(alice);
    expect(failure(await post(bodyText([alice], 'deep', 6000)), 400)).toBe(`notification must nest at most ${MAX_NOTIFICATION_DEPTH} levels deep`);
    failure(await post(bodyText([alice], 'deeper', Math.floor(BODY_LIMIT_BYTES / 2) - 100)), 400);
    expect(success(await post(bodyText([alice], 'shallow', 3)))).toEqual({ users: 1 });
    // Delivered in order: the first NOTIFICATION_SENT is the valid one, so the deep ones went nowhere.
    expect((await client.next('NOTIFICATION_SENT')).data).toEqual({ content: 'shallow', extra: [[]] });
    expect(client.all('NOTIFICATION_SENT')).toHaveLength(1);
  });

  it('answers 400 for a frame over MAX_NOTIFICATION_BYTES and 413 for a body over the body limit', async () => {
    const alice = await createUser(t.db, name('alice'));
    const big = JSON.stringify({ users: [alice], content: 'a'.repeat(MAX_NOTIFICATION_BYTES) });
    expect(failure(await post(big), 400)).toMatch(/at most 65536 bytes/);
    const huge = JSON.stringify({ users: [alice], content: 'a'.repeat(BODY_LIMIT_BYTES) });
    failure(await post(huge), 413);
  });
});

describe.runIf(await needs('redis'))('NOTIFICATIONS channel bounds', () => {
  const logged: Array<Record<string, unknown>> = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'massenger-notify-'));
  let node: Node;
  let ws: string;
  let db: ReturnType<typeof openDb>;
  let mainApi: Redis;
  beforeAll(async () => {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', JWT_SECRET: TEST_SECRET, DATA_DIR: dataDir, REDIS_URL: REDIS_TEST_URL, SHUTDOWN_TIMEOUT_MS: '2000' });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    db = openDb(config);
    node = await build(config, { logger: pino({ level: 'warn' }, sink), db });
    await node.app.listen({ port: 0, host: '127.0.0.1' });
    ws = `ws://127.0.0.1:${(node.app.server.address() as AddressInfo).port}/`;
    mainApi = new Redis(REDIS_TEST_URL);
  });
  afterAll(async () => {
    await mainApi?.quit();
    await node?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('issue 7 defect 4: a publish nested 6,000 deep or too large is dropped and logged; the next one is delivered', async () => {
    const alice = await createUser(db, name('alice'));
    const client = await TestClient.open(ws);
    try {
      client.send('AUTHENTICATE', { token: await signToken(alice) });
      await client.next('INIT');
      // Other suites publish on the shared channel too: this test's notifications carry its tag.
      const tag = name('notify');
      await mainApi.publish('NOTIFICATIONS', bodyText([alice], `${tag} deep`, 6000));
      await mainApi.publish('NOTIFICATIONS', JSON.stringify({ users: [alice], content: `${tag} ${'a'.repeat(MAX_NOTIFICATION_BYTES)}` }));
      await mainApi.publish('NOTIFICATIONS', JSON.stringify({ users: [alice], content: `${tag} fine` }));
      // One subscriber connection hands the publishes over in order: once the valid one is here,
      // the two before it were handled.
      await client.next('NOTIFICATION_SENT', (d) => d.content === `${tag} fine`);
      expect(client.all('NOTIFICATION_SENT').filter((f) => String(f.data.content).startsWith(tag))).toHaveLength(1);
      const drops = logged.filter((l) => l.msg === 'dropped a malformed NOTIFICATIONS publish').map((l) => l.reason);
      expect(drops).toEqual(
        expect.arrayContaining([
          `notification must nest at most ${MAX_NOTIFICATION_DEPTH} levels deep`,
          `notification must encode to at most ${MAX_NOTIFICATION_BYTES} bytes without users`,
        ]),
      );
      expect(logged.filter((l) => (l.level as number) >= 50)).toEqual([]);
    } finally {
      client.close();
    }
  });
});
