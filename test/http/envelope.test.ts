import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError, errorCodes, type ErrorCode, httpStatus } from '../../src/errors.js';
import { fail, installErrorHandling, ok } from '../../src/http/envelope.js';
import { Metrics } from '../../src/metrics.js';

let app: FastifyInstance;
let logged: { obj: object; msg: string }[];
let metrics: Metrics;

beforeEach(async () => {
  logged = [];
  metrics = new Metrics({ defaultMetrics: false });
  app = Fastify({ logger: false });
  installErrorHandling(app, { error: (obj, msg) => logged.push({ obj, msg }) }, metrics);
  app.get('/ok', async () => ok({ conversationId: '7' }));
  app.get<{ Params: { code: string } }>('/app-error/:code', async (request) => {
    throw new AppError(request.params.code as ErrorCode, `failed with ${request.params.code}`);
  });
  app.post(
    '/validated',
    { schema: { body: { type: 'object', required: ['userIds'], properties: { userIds: { type: 'array' } } } } },
    async () => ok(true),
  );
  app.get('/boom', async () => {
    throw new Error('password=hunter2 at db.internal:5432');
  });
  app.get('/reject-string', () => Promise.reject('not an error'));
  await app.ready();
});

afterEach(async () => {
  await app.close();
});

describe('ok and fail', () => {
  it('build the spec §3 envelope', () => {
    expect(ok({ a: 1 })).toEqual({ data: { a: 1 }, errors: null });
    expect(ok(null)).toEqual({ data: null, errors: null });
    expect(fail('nope')).toEqual({ data: null, errors: 'nope' });
  });
});

describe('installErrorHandling', () => {
  it('passes a successful envelope through', async () => {
    const res = await app.inject({ method: 'GET', url: '/ok' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: { conversationId: '7' }, errors: null });
  });

  it.each(errorCodes.filter((c) => c !== 'INTERNAL'))('maps AppError %s to its HTTP status and message', async (code) => {
    const res = await app.inject({ method: 'GET', url: `/app-error/${code}` });
    expect(res.statusCode).toBe(httpStatus[code]);
    expect(res.json()).toEqual({ data: null, errors: `failed with ${code}` });
  });

  it('answers 401 with the envelope and a Bearer challenge for UNAUTHENTICATED', async () => {
    const res = await app.inject({ method: 'GET', url: '/app-error/UNAUTHENTICATED' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.json()).toEqual({ data: null, errors: 'failed with UNAUTHENTICATED' });
  });

  it('hides the message of an AppError INTERNAL and logs it', async () => {
    const res = await app.inject({ method: 'GET', url: '/app-error/INTERNAL' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ data: null, errors: 'internal error' });
    expect(logged).toHaveLength(1);
  });

  it('answers schema validation errors with 400 naming the field', async () => {
    const res = await app.inject({ method: 'POST', url: '/validated', payload: { userIds: { a: 1 } } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ data: null, errors: expect.stringContaining('userIds') });
    const missing = await app.inject({ method: 'POST', url: '/validated', payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().errors).toMatch(/userIds/);
    expect(logged).toHaveLength(0);
  });

  it('keeps Fastify request errors (invalid JSON, wrong media type) as 4xx envelopes', async () => {
    const badJson = await app.inject({
      method: 'POST',
      url: '/validated',
      headers: { 'content-type': 'application/json' },
      payload: '{"userIds": [',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toEqual({ data: null, errors: expect.any(String) });
    const media = await app.inject({ method: 'POST', url: '/validated', headers: { 'content-type': 'text/csv' }, payload: 'a,b' });
    expect(media.statusCode).toBe(415);
    expect(media.json()).toEqual({ data: null, errors: expect.any(String) });
  });

  it('answers an unexpected error with 500 without leaking it, and logs it', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ data: null, errors: 'internal error' });
    expect(res.body).not.toContain('hunter2');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.obj).toMatchObject({ method: 'GET', url: '/boom', err: expect.any(Error) });
  });

  it('answers a rejection with a non-Error as 500', async () => {
    const res = await app.inject({ method: 'GET', url: '/reject-string' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ data: null, errors: 'internal error' });
  });

  it('answers unknown routes with a 404 envelope', async () => {
    const res = await app.inject({ method: 'GET', url: '/nowhere?token=secret' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ data: null, errors: 'no route GET /nowhere' });
  });

  it('counts answered errors by code', async () => {
    await app.inject({ method: 'GET', url: '/nowhere' });
    await app.inject({ method: 'GET', url: '/boom' });
    await app.inject({ method: 'POST', url: '/validated', payload: {} });
    const text = await metrics.text();
    expect(text).toMatch(/^massenger_errors_total\{code="NOT_FOUND"\} 1$/m);
    expect(text).toMatch(/^massenger_errors_total\{code="INTERNAL"\} 1$/m);
    expect(text).toMatch(/^massenger_errors_total\{code="INVALID_DATA"\} 1$/m);
  });
});
