/**
 * `GET /openapi.json` (src/http/routes/openapi.ts): the HTTP API of spec §3 as OpenAPI 3, made by
 * @fastify/swagger from the routes themselves, answered to anyone and outside the envelope. That
 * documenting the routes changed none of their answers is what the other suites here pin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestNode } from '../support/node.js';
import { startNode } from '../support/node.js';

/** Every route of spec §3, as the document spells paths, and its method. */
const PUBLIC = [
  ['post', '/massenger/startConversation'],
  ['get', '/massenger'],
  ['get', '/massenger/{conversationId}'],
  ['post', '/massenger/{conversationId}/members'],
  ['delete', '/massenger/{conversationId}/members/{userId}'],
  ['patch', '/massenger/messages/{messageId}'],
  ['delete', '/massenger/messages/{messageId}'],
] as const;
const PRIVATE = [['post', '/socket/notifications']] as const;
const OPERATIONS = [
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
  ['get', '/openapi.json'],
] as const;

/** Every `$ref` anywhere in `value`. */
function refs(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => (key === '$ref' && typeof inner === 'string' ? [inner] : refs(inner)));
}

describe('GET /openapi.json', () => {
  let t: TestNode;
  let doc: any;
  // PGlite loads a WebAssembly build: slow to start on a loaded machine.
  beforeAll(async () => {
    t = await startNode();
    const res = await t.node.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode, res.body).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
    doc = res.json();
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it('answers the OpenAPI 3 document itself, without a token and outside the envelope', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc).not.toHaveProperty('data');
    expect(doc.info.title).toBe('massenger');
  });

  it.each([...PUBLIC, ...PRIVATE, ...OPERATIONS])('lists %s %s with a summary, a tag and its 200 answer', (method, path) => {
    const operation = doc.paths[path]?.[method];
    expect(operation, `${method.toUpperCase()} ${path} in ${Object.keys(doc.paths).join(', ')}`).toBeDefined();
    expect(operation.summary).toEqual(expect.any(String));
    expect(operation.tags).toHaveLength(1);
    expect(doc.tags.map((tag: { name: string }) => tag.name)).toContain(operation.tags[0]);
    expect(operation.responses['200']).toBeDefined();
  });

  it('lists these routes and no other: no HEAD twins, no files of the chat page, no development sign-in', () => {
    const listed = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item as object).map((method) => `${method} ${path}`));
    const expected = [...PUBLIC, ...PRIVATE, ...OPERATIONS].map(([method, path]) => `${method} ${path}`);
    expect(listed.sort()).toEqual(expected.sort());
  });

  it('describes the envelope of each public answer, and the bearer JWT the public routes take', () => {
    expect(doc.components.securitySchemes.userToken).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    for (const [method, path] of PUBLIC) {
      const operation = doc.paths[path][method];
      expect(operation.security, `${method} ${path}`).toEqual([{ userToken: [] }]);
      const ok = operation.responses['200'].content['application/json'].schema;
      expect(ok.required.sort(), `${method} ${path}`).toEqual(['data', 'errors']);
      expect(ok.properties.errors).toEqual({ type: 'null' });
      const unauthenticated = operation.responses['401'].content['application/json'].schema;
      expect(unauthenticated.properties).toMatchObject({ data: { type: 'null' }, errors: { type: 'string' } });
    }
  });

  it('describes the private route: INTERNAL_API_TOKEN and the body the route checks in code', () => {
    const operation = doc.paths['/socket/notifications'].post;
    expect(operation.security).toEqual([{ internalApiToken: [] }]);
    expect(doc.components.securitySchemes.internalApiToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    const body = operation.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['users', 'content']);
    expect(body.additionalProperties).toBe(true);
  });

  it('keeps keys for the document only out of it, and every $ref names one of its schemas', () => {
    const text = JSON.stringify(doc);
    expect(text).not.toMatch(/"(answers|documentedBody)"/);
    const targets = refs(doc);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of new Set(targets)) {
      expect(target).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas).toHaveProperty(target.slice('#/components/schemas/'.length));
    }
  });

  it('is the same document on every request', async () => {
    const again = await t.node.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(again.json()).toEqual(doc);
  });
});
