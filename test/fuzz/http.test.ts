/**
 * Property-based fuzzing of the HTTP API (spec §3) against a real node on each backend: every
 * route with generated methods, paths, query strings, Authorization headers, Content-Types and
 * bodies (http-arbitraries.ts), through `inject()`; and raw requests over TCP that no HTTP client
 * would write, for what Node answers before Fastify does. The properties: each request gets the
 * status the contract prescribes (http-oracle.ts), never a 500; every answer but the documented
 * exceptions (the page, /metrics, /openapi.json, a 101) is the `{data, errors}` envelope; the
 * member online on a WebSocket gets exactly the events the requests caused; the node keeps serving.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type BackendNode } from '../support/backends.js';
import { TestClient } from '../support/client.js';
import { befriend, createGroup, createUser } from '../support/fixtures.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { rawHttp, type RawAnswer } from '../support/raw-http.js';
import { closedWithin, uniqueName, waitFor } from '../gateway/helpers.js';
import { httpCase, ROUTES, type HttpCase } from './http-arbitraries.js';
import { expectHttp, toRequest, type HttpOutcome, type Secrets } from './http-oracle.js';
import { rawRequest, type RawRequest } from './raw-arbitraries.js';
import { fuzzParameters, fuzzTimeoutMs } from './settings.js';
import { viewOf, type Expected } from './views.js';
import { World } from './world.js';

const GHOST = '9000000000000000003';
const UNKNOWN_CONVERSATION = '9223372036854775807';
const UNKNOWN_MESSAGE = '9223372036854775806';
const SECRETS: Secrets = { internal: `internal-${randomBytes(8).toString('hex')}`, metrics: `metrics-${randomBytes(8).toString('hex')}` };

interface Fixture {
  t: BackendNode;
  world: World;
  users: Record<'me' | 'bystander' | 'stranger' | 'extra', string>;
  /** Each fixture conversation and the members it is put back to after a case. */
  conversations: Record<'group' | 'private' | 'foreign', { id: string; members: string[] }>;
  created: string[];
  tokens: Record<string, string>;
  bystander: TestClient;
  checked: number;
}

async function fixture(t: BackendNode): Promise<Fixture> {
  const [me, bystanderId, stranger, extra] = await Promise.all(['me', 'by', 'st', 'ex'].map((p) => createUser(t.db, uniqueName(p)))) as [string, string, string, string];
  const group = await createGroup(t.db, [me, bystanderId]);
  const privateId = await befriend(t.db, me, bystanderId);
  const foreign = await createGroup(t.db, [bystanderId, stranger]);
  const world = new World(bystanderId);
  for (const u of [me, bystanderId, stranger, extra]) world.users.add(u);
  world.members.set(group, new Set([me, bystanderId]));
  world.members.set(privateId, new Set([me, bystanderId]));
  world.members.set(foreign, new Set([bystanderId, stranger]));
  world.privates.add(privateId);
  const tokens: Record<string, string> = {
    'token:me': await signToken(me),
    'token:bystander': await signToken(bystanderId),
    'token:stranger': await signToken(stranger),
    'token:extra': await signToken(extra),
    'token:ghost': await signToken(GHOST),
    'token:expired': await signToken(me, -10),
    'token:forged': await signToken(me, 3600, 'not-the-secret-not-the-secret-not-the-secret'),
    'token:noSub': await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(TEST_SECRET)),
    'token:internal': SECRETS.internal,
    'token:metrics': SECRETS.metrics,
  };
  for (const [name, user] of [['token:me', me], ['token:bystander', bystanderId], ['token:stranger', stranger], ['token:extra', extra], ['token:ghost', GHOST]] as const) world.tokens.set(tokens[name]!, user);
  const bystander = await TestClient.open(t.ws);
  bystander.send('AUTHENTICATE', { token: tokens['token:bystander'] });
  await waitFor(bystander, 'INIT');
  world.online.add(bystanderId);
  const f: Fixture = {
    t,
    world,
    users: { me, bystander: bystanderId, stranger, extra },
    conversations: { group: { id: group, members: [me, bystanderId] }, private: { id: privateId, members: [me, bystanderId] }, foreign: { id: foreign, members: [bystanderId, stranger] } },
    created: [],
    tokens,
    bystander,
    checked: 1,
  };
  await replenish(f);
  const foreignMessage = await bystander.request('SEND_MESSAGE', { conversationId: foreign, content: 'not yours' }, 'MESSAGE_SENT');
  world.add({ id: foreignMessage.data.message.id, conversationId: foreign, author: bystanderId, content: 'not yours', clientMessageId: null, deleted: false });
  f.checked = bystander.frames.length;
  return f;
}

/**
 * Keeps a live message of each member in the group, and a deleted one of mine, for edits and
 * deletes to aim at; true when it had to send some.
 */
async function replenish(f: Fixture): Promise<boolean> {
  const group = f.conversations.group.id;
  const live = (author: string) => [...f.world.messages.values()].some((m) => m.author === author && m.conversationId === group && !m.deleted);
  const sent = !live(f.users.me) || !live(f.users.bystander) || ![...f.world.messages.values()].some((m) => m.author === f.users.me && m.deleted);
  if (!live(f.users.me) || ![...f.world.messages.values()].some((m) => m.author === f.users.me && m.deleted)) {
    const mine = await TestClient.open(f.t.ws);
    mine.send('AUTHENTICATE', { token: f.tokens['token:me'] });
    await waitFor(mine, 'INIT');
    for (const content of ['mine', 'mine too', 'gone']) {
      const ack = await mine.request('SEND_MESSAGE', { conversationId: group, content }, 'MESSAGE_SENT');
      f.world.add({ id: ack.data.message.id, conversationId: group, author: f.users.me, content, clientMessageId: null, deleted: false });
    }
    const gone = [...f.world.messages.values()].at(-1)!;
    await mine.request('DELETE_MESSAGE', { messageId: gone.id }, 'MESSAGE_DELETED');
    gone.deleted = true;
    mine.close();
    await closedWithin(mine);
  }
  if (!live(f.users.bystander)) {
    const ack = await f.bystander.request('SEND_MESSAGE', { conversationId: group, content: 'theirs' }, 'MESSAGE_SENT');
    f.world.add({ id: ack.data.message.id, conversationId: group, author: f.users.bystander, content: 'theirs', clientMessageId: null, deleted: false });
  }
  return sent;
}

function resolver(f: Fixture): (name: string) => string {
  const messages = [...f.world.messages.values()];
  const group = f.conversations.group.id;
  const live = (author: string) => messages.filter((m) => m.author === author && m.conversationId === group && !m.deleted).at(-1)?.id ?? UNKNOWN_MESSAGE;
  const ids: Record<string, string> = {
    'user:me': f.users.me,
    'user:bystander': f.users.bystander,
    'user:stranger': f.users.stranger,
    'user:extra': f.users.extra,
    'user:ghost': GHOST,
    group,
    private: f.conversations.private.id,
    foreign: f.conversations.foreign.id,
    created: f.created.at(-1) ?? group,
    unknownConversation: UNKNOWN_CONVERSATION,
    ownMessage: live(f.users.me),
    ownDeleted: messages.find((m) => m.author === f.users.me && m.deleted)?.id ?? UNKNOWN_MESSAGE,
    othersMessage: live(f.users.bystander),
    foreignMessage: messages.find((m) => m.conversationId === f.conversations.foreign.id)?.id ?? UNKNOWN_MESSAGE,
    unknownMessage: UNKNOWN_MESSAGE,
    ...f.tokens,
  };
  return (name) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`no fixture named ${name}`);
    return id;
  };
}

const FENCE = `fence-${randomBytes(6).toString('hex')}-`;
let fences = 0;

/**
 * The bystander's events since the last check, fenced by a PING of its own. Presence is left out:
 * `replenish` signs the bystander's friend in and out, and USER_LEFT follows within seconds.
 */
async function bystanderEvents(f: Fixture): Promise<Array<{ method: string; data: Record<string, any> }>> {
  const requestId = `${FENCE}${++fences}`;
  f.bystander.send('PING', { requestId });
  const pong = await waitFor(f.bystander, 'PONG', (d) => d.requestId === requestId);
  const at = f.bystander.frames.indexOf(pong);
  const events = f.bystander.frames.slice(f.checked, at).filter((e) => e.method !== 'USER_JOINED' && e.method !== 'USER_LEFT');
  f.checked = at + 1;
  return events;
}

/** Asserts an answer is what `outcome` says, in the envelope unless spec §3 exempts it. */
function expectAnswer(res: { statusCode: number; headers: Record<string, unknown>; body: string }, outcome: HttpOutcome): any {
  expect(res.statusCode, res.body.slice(0, 300)).toBe(outcome.status);
  const type = String(res.headers['content-type'] ?? '');
  switch (outcome.kind) {
    case 'empty':
      expect(res.body).toBe('');
      return undefined;
    case 'html':
      expect(type).toMatch(/^text\/html/);
      return undefined;
    case 'metrics':
      expect(type).toMatch(/^text\/plain/);
      expect(res.body).toContain('massenger_');
      return undefined;
    case 'openapi':
      expect(JSON.parse(res.body).openapi).toBe('3.1.0');
      return undefined;
  }
  expect(type).toMatch(/^application\/json/);
  const body = JSON.parse(res.body);
  expect(Object.keys(body).sort()).toEqual(['data', 'errors']);
  if (outcome.status >= 400) {
    expect(body.data).toBeNull();
    expect(typeof body.errors === 'string' && body.errors.length > 0, 'an error message').toBe(true);
    return undefined;
  }
  expect(body.errors).toBeNull();
  if (outcome.data !== undefined) expect(body.data).toEqual(outcome.data);
  if (outcome.check !== undefined) expect(outcome.check(body.data), JSON.stringify(body.data).slice(0, 300)).toBeNull();
  return body.data;
}

/** Puts the fixture conversations back to their members: those added leave, those who left are added back. */
async function restore(f: Fixture): Promise<void> {
  let changed = false;
  for (const { id, members } of [f.conversations.group, f.conversations.foreign]) {
    const now = f.world.members.get(id)!;
    const tokenOf = (user: string) => Object.entries(f.tokens).find(([name, token]) => name.startsWith('token:') && f.world.tokens.get(token) === user)?.[1];
    for (const extra of [...now].filter((u) => !members.includes(u))) {
      const res = await f.t.node.app.inject({ method: 'DELETE', url: `/massenger/${id}/members/${extra}`, headers: { authorization: `Bearer ${tokenOf(extra)}` } });
      expect(res.statusCode, res.body).toBe(200);
      changed = true;
    }
    const missing = members.filter((u) => !now.has(u));
    const present = members.find((u) => now.has(u));
    if (missing.length > 0 && present !== undefined) {
      const res = await f.t.node.app.inject({ method: 'POST', url: `/massenger/${id}/members`, headers: { authorization: `Bearer ${tokenOf(present)}` }, payload: { userIds: missing } });
      expect(res.statusCode, res.body).toBe(200);
      changed = true;
    }
    if (present !== undefined) f.world.members.set(id, new Set(members));
  }
  // What putting things back told the bystander is no case's business.
  if ((await replenish(f)) || changed) await bystanderEvents(f);
}

async function runCase(f: Fixture, c: HttpCase): Promise<void> {
  const resolve = resolver(f);
  const outcome = expectHttp(c, resolve, f.world, SECRETS);
  const req = toRequest(c, resolve);
  let failure: unknown = null;
  try {
    const res = await f.t.node.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, ...(req.body === undefined ? {} : { payload: req.body }) });
    const data = expectAnswer(res, outcome);
    if (outcome.created !== undefined) {
      f.world.members.set(data.conversationId, outcome.created);
      f.created.push(data.conversationId);
    }
  } catch (err) {
    failure = err;
  }
  // Checked even after a failure, so that this case's events are not taken for the next one's.
  try {
    const events = await bystanderEvents(f);
    expect(events.map((e) => viewOf(e)), 'the bystander\'s events').toEqual(outcome.bystander.map((e: Expected) => e.view));
  } catch (err) {
    failure ??= err;
  }
  await restore(f);
  if (failure !== null) throw failure;
}

/** Asserts a raw answer: never a 5xx; a failure is the envelope, exactly as long as it says. */
function expectRawAnswer(answer: RawAnswer, r: RawRequest): void {
  expect(answer.status, answer.body.slice(0, 200)).toBeLessThan(500);
  if (answer.status === 101) {
    expect(r.upgrade, 'a 101 answers a WebSocket handshake only').toBe(true);
    return;
  }
  if (answer.status < 400) return;
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  if (r.head) return;
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
  const body = JSON.parse(answer.body);
  expect(Object.keys(body).sort()).toEqual(['data', 'errors']);
  expect(body.data).toBeNull();
  expect(typeof body.errors).toBe('string');
}

for (const backend of await backends()) {
  describe(`fuzzed HTTP requests (${backend.name})`, () => {
    let f: Fixture;
    let port: number;
    beforeAll(async () => {
      const t = await backend.start({ INTERNAL_API_TOKEN: SECRETS.internal, METRICS_TOKEN: SECRETS.metrics });
      port = Number(new URL(t.http).port);
      f = await fixture(t);
    });
    afterAll(async () => {
      f?.bystander.close();
      await f?.t.close();
    });

    it('regression: an HTTP/1.1 request without Host is a 400 envelope, not Node\'s bare 400', async () => {
      const answer = await rawHttp(port, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toEqual({ data: null, errors: expect.stringContaining('Host') });
      // HTTP/1.0 has no Host.
      expect((await rawHttp(port, 'GET /healthz HTTP/1.0\r\n\r\n')).status).toBe(200);
    });

    it('regression: CONNECT is a 404 envelope, not a socket closed without an answer', async () => {
      const answer = await rawHttp(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      expect(answer.status).toBe(404);
      expect(JSON.parse(answer.body)).toEqual({ data: null, errors: 'no route CONNECT example.com:443' });
    });

    it('regression: an unknown route is a 404 whatever its body, not a 400 for JSON it would not read', async () => {
      for (const [type, payload] of [['application/json', '{'], ['application/json', ''], [';;', 'x']]) {
        const res = await f.t.node.app.inject({ method: 'POST', url: '/nowhere', headers: { 'content-type': type! }, payload });
        expect(res.statusCode, `${type} ${payload}`).toBe(404);
        expect(res.json()).toEqual({ data: null, errors: 'no route POST /nowhere' });
      }
    });

    it('the fuzzed routes are every route of GET /openapi.json', async () => {
      const doc = (await f.t.node.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      );
      const fuzzed = Object.values(ROUTES).map((r) => `${r.method} ${r.path}`);
      expect(fuzzed.filter((r) => r !== 'GET /').sort()).toEqual(documented.sort());
    });

    it(
      'every request gets the status and envelope the contract prescribes, never 500; the bystander gets exactly its events',
      async () => {
        await fc.assert(fc.asyncProperty(httpCase, (c) => runCase(f, c)), fuzzParameters(backend.name === 'pglite' ? 700 : 800, 40_000));
      },
      fuzzTimeoutMs(40_000),
    );

    it(
      'a raw request no client would send gets an envelope (or a 101 for a good handshake), never a 5xx, and the node keeps serving',
      async () => {
        await fc.assert(
          fc.asyncProperty(rawRequest, async (r) => {
            expectRawAnswer(await rawHttp(port, r.bytes, { timeoutMs: 3000, headOnly: r.head }), r);
          }),
          fuzzParameters(backend.name === 'pglite' ? 300 : 400, 20_000),
        );
        const health = await fetch(`${f.t.http}/healthz`);
        expect(await health.json()).toEqual({ data: { status: 'up' }, errors: null });
        expect((await f.bystander.request('PING', {}, 'PONG')).method).toBe('PONG');
      },
      fuzzTimeoutMs(20_000),
    );
  });
}
