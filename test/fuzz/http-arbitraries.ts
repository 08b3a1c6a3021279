/**
 * HTTP requests for the fuzzer: every route of spec §3 (and the operations routes), each with its
 * own method or another, path parameters that are ids, other digits, other text or broken
 * percent-encoding, query strings, Authorization headers of every shape, bodies of the route's
 * shape or any JSON or no JSON at all, under any Content-Type, and unrelated headers.
 */
import fc from 'fast-check';
import { content, id } from './frame-arbitraries.js';
import { anyJson, Deep, edgeString, type Json, Obj, Ref, type Resolve, writeJson } from './json-text.js';

/** The routes of spec §3 and the operations routes: each must be in `GET /openapi.json` and nothing else (http.test.ts). */
export const ROUTES = {
  startConversation: { method: 'POST', path: '/massenger/startConversation' },
  conversations: { method: 'GET', path: '/massenger' },
  conversation: { method: 'GET', path: '/massenger/:conversationId' },
  addMembers: { method: 'POST', path: '/massenger/:conversationId/members' },
  leave: { method: 'DELETE', path: '/massenger/:conversationId/members/:userId' },
  edit: { method: 'PATCH', path: '/massenger/messages/:messageId' },
  delete: { method: 'DELETE', path: '/massenger/messages/:messageId' },
  notify: { method: 'POST', path: '/socket/notifications' },
  healthz: { method: 'GET', path: '/healthz' },
  readyz: { method: 'GET', path: '/readyz' },
  metrics: { method: 'GET', path: '/metrics' },
  openapi: { method: 'GET', path: '/openapi.json' },
  page: { method: 'GET', path: '/' },
} as const;

export type Route = keyof typeof ROUTES;

/** Fixture names (resolved by http.test.ts). */
const USERS = ['user:me', 'user:bystander', 'user:stranger', 'user:extra', 'user:ghost'] as const;
const CONVERSATIONS = ['group', 'private', 'foreign', 'created', 'unknownConversation'] as const;
const MESSAGES = ['ownMessage', 'ownDeleted', 'othersMessage', 'foreignMessage', 'unknownMessage'] as const;

/** A path segment or query value: a fixture's id, text to percent-encode, or text written as is. */
export type Part = Ref | { text: string } | { raw: string };

export interface HttpCase {
  route: Route;
  method: string;
  params: Part[];
  /** Static parts of the path in upper case (the prefix is case-insensitive). */
  upper: boolean;
  trailingSlash: boolean;
  query: Array<[string, Part]>;
  /** `[scheme, Ref(token), tail]`, or a header value written as is. */
  authorization: Json | null;
  contentType: string | null;
  body: { json: Json; cut: number | null } | { text: string } | { bytes: number } | null;
  headers: Array<[string, string]>;
}

/** Percent-encodes every byte of the UTF-8 text but the unreserved ones (a lone surrogate becomes U+FFFD first). */
function encodePart(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function writePart(part: Part, resolve: Resolve): string {
  if (part instanceof Ref) return writeJson(part, resolve).replaceAll('"', '');
  return 'raw' in part ? part.raw : encodePart(part.text);
}

const fixture = (names: readonly string[]): fc.Arbitrary<Part> =>
  fc.tuple(fc.oneof(fc.constant(names[0]!), fc.constantFrom(...names)), fc.constantFrom<Ref['as']>('string', 'string', 'padded')).map(([n, as]) => new Ref(n, as));

/** A path parameter: an id, digits that are not one, other text, or broken percent-encoding. */
function param(names: readonly string[]): fc.Arbitrary<Part> {
  return fc.oneof(
    { weight: 20, arbitrary: fixture(names) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1, 19, 20, 64, 65, 100, 101).map((n) => ({ raw: n === 0 ? '0' : '9'.repeat(n) })) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => s !== '.' && s !== '..').map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.constantFrom('%zz', '%', '%G1', '%E0%A4%A', '1%2F2', '%31%32', '00', 'messages', 'members', 'startConversation', 'MESSAGES').map((raw) => ({ raw })) },
  );
}

const PARAMS: Record<Route, () => fc.Arbitrary<Part[]>> = {
  startConversation: () => fc.constant([]),
  conversations: () => fc.constant([]),
  conversation: () => param(CONVERSATIONS).map((p) => [p]),
  addMembers: () => param(CONVERSATIONS).map((p) => [p]),
  leave: () => fc.tuple(param(CONVERSATIONS), param(USERS)),
  edit: () => param(MESSAGES).map((p) => [p]),
  delete: () => param(MESSAGES).map((p) => [p]),
  notify: () => fc.constant([]),
  healthz: () => fc.constant([]),
  readyz: () => fc.constant([]),
  metrics: () => fc.constant([]),
  openapi: () => fc.constant([]),
  page: () => fc.constant([]),
};

/** A query value: an id, a time, digits, other text, or text that is not valid percent-encoding. */
const queryValue: fc.Arbitrary<Part> = fc.oneof(
  fixture([...MESSAGES, ...CONVERSATIONS]),
  fc.constantFrom('1', '10', '100', '101', '0', '00', '050', '999999999', '1234567890', '', ' 5', '5 ', '-1', '1e2', '1.0', 'Infinity', 'NaN', '0x10').map((text) => ({ text })),
  fc.constantFrom('2026-01-01', '2026-01-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '+010000-01-01T00:00:00Z', '2026-13-45', '0000-01-01', 'May 5', '2026-01-01T25:00').map((text) => ({ text })),
  edgeString.filter((s) => s.length <= 80).map((text) => ({ text })),
  fc.constantFrom('%zz', '%', '1%', '%E0%A4%A', '1+0', '[]', '&').map((raw) => ({ raw })),
);

const query = fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'before', 'limit', 'before'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }).map(encodePart)), queryValue), { maxLength: 3 });

const TOKENS = ['token:me', 'token:bystander', 'token:stranger', 'token:ghost', 'token:expired', 'token:forged', 'token:noSub', 'token:internal', 'token:metrics'] as const;

/** The token each route takes; any other is a 401 there. */
const TOKEN_OF: Partial<Record<Route, string>> = { notify: 'token:internal', metrics: 'token:metrics' };

/** An Authorization header: mostly `Bearer <the route's token>`, in every spelling, or something else. */
const authorization = (route: Route): fc.Arbitrary<Json> => {
  const own = TOKEN_OF[route] ?? 'token:me';
  const token = fc.oneof({ weight: 4, arbitrary: fc.constant(own) }, { weight: 1, arbitrary: fc.constantFrom(...TOKENS) });
  return fc.oneof(
    { weight: 10, arbitrary: fc.tuple(fc.constantFrom('Bearer ', 'Bearer ', 'Bearer ', 'bearer ', 'BEARER ', 'Bearer\t', 'Bearer   '), token, fc.constantFrom('', '', '', ' ', ' x', '\t')).map(([scheme, t, tail]) => [scheme, new Ref(t, 'string'), tail]) },
    { weight: 1, arbitrary: fc.constantFrom<Json>('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a.b.c', 'Bearer ' + 'a'.repeat(8000), 'Token x') },
  );
};

export function writeAuthorization(value: Json, resolve: Resolve): string {
  return Array.isArray(value) ? value.map((v) => (v instanceof Ref ? resolve(v.name) : String(v))).join('') : String(value);
}

const userIds = (maxRepeat: number): fc.Arbitrary<Json> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.array(id(USERS), { minLength: 1, maxLength: 5 }) },
    { weight: 1, arbitrary: fc.constantFrom<Json>([], null, 'x', new Obj([])) },
    { weight: 1, arbitrary: fc.integer({ min: maxRepeat - 1, max: maxRepeat + 1 }).map((n) => Array.from({ length: n }, () => new Ref('user:bystander', 'string'))) },
  );

/** Entries in any order, and sometimes ignored ones besides. */
const shuffled = (entries: fc.Arbitrary<Array<readonly [string, Json]>>): fc.Arbitrary<Json> =>
  fc
    .tuple(entries, fc.array(fc.tuple(fc.constantFrom('extra', 'token', 'userIds', 'content', 'constructor'), anyJson), { maxLength: 1 }))
    .chain(([e, extra]) => fc.shuffledSubarray([...e, ...extra], { minLength: e.length + extra.length }))
    .map((entries) => new Obj(entries));

const optional = (name: string, value: fc.Arbitrary<Json>, presence = 0.9) =>
  fc.oneof({ weight: Math.round(presence * 10), arbitrary: value.map((v) => [[name, v] as const]) }, { weight: Math.round((1 - presence) * 10), arbitrary: fc.constant<Array<readonly [string, Json]>>([]) });

/** `{users, content, name?, img?, ...}` near its limits: 10000 users, 32 levels, a 64 KiB frame. */
const notification: fc.Arbitrary<Json> = shuffled(
  fc
    .tuple(
      optional('users', fc.oneof({ weight: 6, arbitrary: userIds(2) }, { weight: 1, arbitrary: fc.constantFrom(10000, 10001).map((n) => Array.from({ length: n }, () => new Ref('user:stranger', 'string'))) })),
      optional('content', fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.constantFrom<Json>('', ' ', '\u0000', '\ud800', 5, null))),
      optional('name', fc.string({ maxLength: 10 }), 0.4),
      optional('img', fc.oneof(fc.webUrl(), fc.integer({ min: 65400, max: 65600 }).map((n) => 'i'.repeat(n))), 0.3),
      optional('nested', fc.integer({ min: 29, max: 33 }).map((depth) => new Deep(depth, 'object', 'x') as Json), 0.15),
    )
    .map((parts) => parts.flat()),
);

const BODIES: Partial<Record<Route, fc.Arbitrary<Json>>> = {
  startConversation: shuffled(optional('userIds', userIds(256), 0.95)),
  addMembers: shuffled(optional('userIds', userIds(255), 0.95)),
  edit: shuffled(optional('content', content, 0.95)),
  notify: notification,
};

const CONTENT_TYPES = ['application/json; charset=utf-8', 'Application/JSON', 'text/plain', 'text/plain; charset=utf-8', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/jsonx', 'json'];

/** A body of the route's shape (or any JSON), sometimes cut short, not JSON, empty, or over 1 MiB. */
function body(route: Route): fc.Arbitrary<HttpCase['body']> {
  const shaped = BODIES[route];
  const json = shaped === undefined ? anyJson : fc.oneof({ weight: 8, arbitrary: shaped }, { weight: 1, arbitrary: anyJson });
  return fc.oneof(
    { weight: shaped === undefined ? 1 : 20, arbitrary: json.map((j) => ({ json: j, cut: null })) },
    { weight: 1, arbitrary: fc.tuple(json, fc.double({ min: 0, max: 1, noNaN: true })).map(([j, cut]) => ({ json: j, cut })) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'x', '{', 'null', '\ufeff{}', '{"__proto__":{"a":1}}', '{"constructor":{"prototype":{"a":1}}}').map((text) => ({ text })) },
    { weight: shaped === undefined ? 6 : 0, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: shaped === undefined ? 0 : 1, arbitrary: fc.constant({ bytes: 1024 * 1024 + 1 }) },
  );
}

/** The body as sent. */
export function writeBody(b: NonNullable<HttpCase['body']>, resolve: Resolve): string {
  if ('text' in b) return b.text;
  if ('bytes' in b) return `"${'x'.repeat(b.bytes - 2)}"`;
  const text = writeJson(b.json, resolve);
  return b.cut === null ? text : text.slice(0, Math.floor(text.length * b.cut));
}

const header = fc.tuple(
  fc.constantFrom('x-forwarded-for', 'accept', 'accept-encoding', 'accept-language', 'x-request-id', 'origin', 'cookie', 'user-agent', 'x-custom'),
  fc.string({ unit: fc.constantFrom(...' !#$%&\'()*+,-./0123456789:;<=>?@ABCxyz[]^_`{|}~'.split('')), maxLength: 40 }),
);

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export const httpCase: fc.Arbitrary<HttpCase> = fc.constantFrom(...(Object.keys(ROUTES) as Route[])).chain((route) => {
  const own = ROUTES[route].method;
  const hasBody = BODIES[route] !== undefined;
  return fc.record({
    route: fc.constant(route),
    method: fc.oneof({ weight: 8, arbitrary: fc.constant(own) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
    params: PARAMS[route](),
    upper: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    trailingSlash: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    query: route === 'conversations' || route === 'conversation' ? query : fc.oneof({ weight: 5, arbitrary: fc.constant<Array<[string, Part]>>([]) }, { weight: 1, arbitrary: query }),
    authorization: fc.oneof({ weight: 9, arbitrary: authorization(route) }, { weight: 1, arbitrary: fc.constant(null) }),
    contentType: fc.oneof({ weight: hasBody ? 8 : 1, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: hasBody ? 1 : 8, arbitrary: fc.constant(null) }),
    body: body(route),
    headers: fc.array(header, { maxLength: 2 }),
  });
});
