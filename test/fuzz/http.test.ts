/**
 * Property-based fuzzing of the HTTP API (spec §3) against a real node on each backend: every
 * route with generated methods, paths, query strings, Authorization headers, Content-Types and
 * bodies (http-arbitraries.ts), through `inject()`; and raw requests over TCP that no HTTP client
 * would write, for what Node answers before Fastify does. The properties: each request gets the
 * status the contract prescribes (http-oracle.ts), never a 500; every answer but the documented
 * exceptions (the page, /metrics, /openapi.json, a 101) is the `{data, errors}` envelope; the
 * member online on a WebSocket gets exactly the events the requests caused; the node keeps serving.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import { rawHttp, type RawAnswer } from '../support/raw-http.js';
import { httpCase, ROUTES, type HttpCase } from './http-arbitraries.js';
import { Ref } from './json-text.js';
import { bystanderEvents, fixture, type Fixture, resolver, restore, SECRETS } from './http-fixture.js';
import { expectHttp, type HttpOutcome } from './http-oracle.js';
import { toRequest } from './http-routing.js';
import { rawRequest, type RawRequest } from './raw-arbitraries.js';
import { fuzzParameters, fuzzTimeoutMs } from './settings.js';
import { viewOf, type Expected } from './views.js';

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

    it('regression: a notification\'s -0 reaches the member as JSON carries it, 0', async () => {
      const c: HttpCase = {
        route: 'notify',
        method: 'POST',
        params: [],
        upper: false,
        trailingSlash: false,
        query: [],
        authorization: ['Bearer ', new Ref('token:internal', 'string'), ''],
        contentType: 'application/json',
        body: { text: `{"users":[${JSON.stringify(resolver(f)('user:bystander'))}],"content":" ","extra":-0}` },
        headers: [],
      };
      await runCase(f, c);
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
