/**
 * What spec §3 (and docs/protocol.md, which details it) says one HTTP request gets: its status,
 * the data of a success, and the events the bystander's WebSocket gets from it. Written from the
 * contract and from what it leaves to Fastify (routing, 404 for an unknown route or method, 414,
 * 415, 413, bodies that are not JSON), not from src/http, and checked in that order: route, path
 * encoding, the caller (401), the body, bad input (400), not a member (404), not allowed (403).
 */
import { expect } from 'vitest';
import type { Resolve } from './json-text.js';
import { type HttpCase, type Route, ROUTES, writePart } from './http-arbitraries.js';
import { bearer, BODY_METHODS, decoded, type HttpRequest, parseBody, routeOf, toRequest, tooLong } from './http-routing.js';
import type { Expected, View } from './views.js';
import { codePoints, contentOk, messageView, wireId, type World } from './world.js';

/** Spec §3 and docs/protocol.md limits. */
const MAX_NOTIFICATION_USERS = 10000;
const MAX_NOTIFICATION_DEPTH = 32;
const MAX_NOTIFICATION_BYTES = 64 * 1024;
const MAX_MEMBERS = 256;
const PATH_ID = /^[0-9]{1,64}$/;
const ID_TEXT = /^[0-9]{1,19}$/;

export interface Secrets {
  internal: string;
  metrics: string;
}

export interface HttpOutcome {
  status: number;
  /** What the answer is: the envelope, or one of the answers spec §3 leaves out of it. */
  kind: 'envelope' | 'html' | 'metrics' | 'openapi' | 'empty';
  /** A success's `data`, as far as it can be predicted (asymmetric matchers inside), or a check of it. */
  data?: unknown;
  check?: (data: any) => string | null;
  bystander: Expected[];
  /** The members of the conversation a success creates: the id comes with the answer. */
  created?: Set<string>;
}

const fail = (status: number): HttpOutcome => ({ status, kind: 'envelope', bystander: [] });
const ok = (data: unknown, bystander: Expected[] = []): HttpOutcome => ({ status: 200, kind: 'envelope', data, bystander });
const event = (view: View): Expected => ({ view });

/** Query values by name, decoded; a name given twice is a list (and fails its schema). */
function queryOf(c: HttpCase, resolve: Resolve): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of c.query) {
    const key = decoded(k) ?? k;
    const raw = writePart(v, resolve);
    out.set(key, [...(out.get(key) ?? []), decoded(raw) ?? raw]);
  }
  return out;
}

/** A paging limit in a query: absent means `fallback`; else 1 to 9 decimal digits from 1 to `max`. */
function limitOf(values: string[] | undefined, fallback: number, max: number): number | null {
  if (values === undefined) return fallback;
  if (values.length !== 1 || !/^[0-9]{1,9}$/.test(values[0]!)) return null;
  const n = Number(values[0]);
  return n >= 1 && n <= max ? n : null;
}

/** Ids of a JSON body as the schema reads them: scalars become text, which must be 1 to 19 digits naming an id. */
function bodyIds(value: unknown, min: number, max: number): string[] | null {
  if (!Array.isArray(value) || value.length < min || value.length > max) return null;
  const ids: string[] = [];
  for (const v of value) {
    const text = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === null ? '' : null;
    const id = text !== null && ID_TEXT.test(text) ? wireId(text) : null;
    if (id === null) return null;
    ids.push(id);
  }
  return ids;
}

function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    const [v, depth] = e;
    if (typeof v !== 'object' || v === null) continue;
    max = Math.max(max, depth);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}

/** What `c` gets from a node whose data is `world`, updating the world as the request should. */
export function expectHttp(c: HttpCase, resolve: Resolve, world: World, secrets: Secrets): HttpOutcome {
  const outcome = expectRouted(c, resolve, world, secrets);
  // HEAD answers as GET would, without a body.
  return c.method === 'HEAD' ? { status: outcome.status, kind: 'empty', bystander: outcome.bystander } : outcome;
}

function expectRouted(c: HttpCase, resolve: Resolve, world: World, secrets: Secrets): HttpOutcome {
  const req = toRequest(c, resolve);
  const path = req.url.split('?', 1)[0]!;
  const segments = (path.endsWith('/') && path !== '/' ? path.slice(0, -1) : path).split('/').slice(1).filter((s) => s !== '');
  // The router decodes the whole path first: broken percent-encoding is a 400 on any path.
  if (segments.some((s) => decoded(s) === null)) return fail(400);
  // The router measures a parameter as it reaches it, before it knows whether the rest matches.
  if (tooLong(c.method, segments)) return fail(414);
  const route = routeOf(c.method, segments);
  // Spec §3: an unknown route (or method) is a 404, whatever else the request holds.
  if (route === null) return fail(404);
  const template = ROUTES[route].path.split('/').slice(1);
  const params: string[] = [];
  for (const [i, t] of template.entries()) {
    if (!t.startsWith(':')) continue;
    params.push(decoded(segments[i]!)!);
  }
  const operation = route === 'page' || route === 'healthz' || route === 'readyz' || route === 'openapi' || route === 'metrics';
  return operation ? operations(route, req, secrets) : api(route, c, req, params, resolve, world, secrets);
}

function operations(route: Route, req: HttpRequest, secrets: Secrets): HttpOutcome {
  switch (route) {
    case 'healthz':
      return ok({ status: 'up' });
    case 'readyz':
      return { ...ok(undefined), check: (d) => (Object.values(d ?? {}).length > 0 && Object.values(d).every((v) => v === 'ok') ? null : `not ready: ${JSON.stringify(d)}`) };
    case 'metrics':
      return bearer(req.headers.authorization) === secrets.metrics ? { status: 200, kind: 'metrics', bystander: [] } : fail(401);
    case 'openapi':
      return { status: 200, kind: 'openapi', bystander: [] };
    default:
      return { status: 200, kind: 'html', bystander: [] };
  }
}

function api(route: Route, c: HttpCase, req: HttpRequest, params: string[], resolve: Resolve, world: World, secrets: Secrets): HttpOutcome {
  const token = bearer(req.headers.authorization);
  let caller = '';
  if (route === 'notify') {
    if (token !== secrets.internal) return fail(401);
  } else {
    const user = token === null ? undefined : world.tokens.get(token);
    if (user === undefined) return fail(401);
    caller = user;
  }
  let body: unknown;
  if (BODY_METHODS.has(c.method)) {
    const parsed = parseBody(req);
    if ('status' in parsed) return fail(parsed.status);
    body = parsed.value;
  }
  const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  const pathId = (i: number): string | null | 'bad' => (PATH_ID.test(params[i]!) ? wireId(params[i]!) : 'bad');
  const toBystander = (conversationId: string): boolean => world.member(conversationId, world.bystander) && world.online.has(world.bystander);

  switch (route) {
    case 'startConversation': {
      const ids = fields === null ? null : bodyIds(fields.userIds, 1, 256);
      if (ids === null) return fail(400);
      const others = [...new Set(ids)].filter((id) => id !== caller);
      // The caller is a member too: one who is not a user (a valid token for an unknown id) is an unknown user.
      if (others.length < 1 || others.length > 255 || [caller, ...others].some((id) => !world.users.has(id))) return fail(400);
      const members = new Set([caller, ...others]);
      const invited = others.includes(world.bystander) && world.online.has(world.bystander);
      return { ...ok({ conversationId: expect.any(String) }, invited ? [event({ method: 'INVITATION_SENT', data: { conversationId: expect.any(String) } })] : []), created: members };
    }
    case 'conversations': {
      const q = queryOf(c, resolve);
      const limit = limitOf(q.get('limit'), 10, 100);
      const before = q.get('before');
      if (limit === null || (before !== undefined && !cursorOk(before))) return fail(400);
      return {
        ...ok(undefined),
        check: (d) => {
          const list = d?.conversations;
          if (!Array.isArray(list) || list.length > limit) return `not at most ${limit} conversations`;
          const foreign = list.find((conv: { id: string }) => !world.member(conv.id, caller));
          return foreign === undefined ? null : `conversation ${foreign.id} is not the caller's`;
        },
      };
    }
    case 'conversation': {
      const q = queryOf(c, resolve);
      const limit = limitOf(q.get('limit'), 50, 100);
      const before = q.get('before');
      const conversationId = pathId(0);
      if (conversationId === 'bad' || limit === null) return fail(400);
      if (before !== undefined && (before.length !== 1 || !ID_TEXT.test(before[0]!) || wireId(before[0]!) === null)) return fail(400);
      if (conversationId === null || !world.member(conversationId, caller)) return fail(404);
      const beforeId = before === undefined ? null : BigInt(wireId(before[0]!)!);
      return {
        ...ok(undefined),
        check: (d) => {
          const conv = d?.conversation;
          if (conv?.id !== conversationId || !Array.isArray(conv.messages)) return 'not the conversation asked for';
          if (conv.messages.length > limit) return `more than ${limit} messages`;
          let previous = 0n;
          for (const m of conv.messages) {
            const id = BigInt(m.id);
            if (id <= previous || (beforeId !== null && id >= beforeId) || m.conversationId !== conversationId) return `message ${m.id} out of place`;
            previous = id;
            const known = world.messages.get(m.id);
            if (known !== undefined && (known.deleted !== (m.deletedAt !== null) || (known.deleted ? '' : known.content) !== m.content)) return `message ${m.id} is not as stored`;
          }
          return null;
        },
      };
    }
    case 'addMembers': {
      const conversationId = pathId(0);
      const ids = fields === null ? null : bodyIds(fields.userIds, 1, 255);
      if (conversationId === 'bad' || ids === null) return fail(400);
      if (conversationId === null) return fail(404);
      const wanted = [...new Set(ids)];
      if (wanted.some((id) => !world.users.has(id))) return fail(400);
      if (!world.member(conversationId, caller)) return fail(404);
      const members = world.members.get(conversationId)!;
      const added = wanted.filter((id) => !members.has(id));
      if (members.size + added.length > MAX_MEMBERS) return fail(400);
      if (world.privates.has(conversationId)) return fail(403);
      if (added.length === 0) return ok({ conversationId, added: [] });
      world.members.set(conversationId, new Set([...members, ...added]));
      const events: Expected[] = [];
      if (toBystander(conversationId)) events.push(event({ method: 'MEMBERS_CHANGED', conversationId, added: [...added].sort(), removed: [], by: caller }));
      if (added.includes(world.bystander) && world.online.has(world.bystander)) events.push(event({ method: 'INVITATION_SENT', data: { conversationId } }));
      const sorted = JSON.stringify([...added].sort());
      return { ...ok(undefined, events), check: (d) => (d?.conversationId === conversationId && JSON.stringify([...(d?.added ?? [])].sort()) === sorted ? null : `not {conversationId, added: ${sorted}}`) };
    }
    case 'leave': {
      const conversationId = pathId(0);
      const target = pathId(1);
      if (conversationId === 'bad' || target === 'bad') return fail(400);
      if (conversationId === null || !world.member(conversationId, caller)) return fail(404);
      if (target !== caller || world.privates.has(conversationId)) return fail(403);
      const events = toBystander(conversationId) ? [event({ method: 'MEMBERS_CHANGED', conversationId, added: [], removed: [caller], by: caller })] : [];
      world.members.set(conversationId, new Set([...world.members.get(conversationId)!].filter((id) => id !== caller)));
      return ok({ conversationId, removed: [caller] }, events);
    }
    case 'edit':
    case 'delete': {
      const messageId = pathId(0);
      if (messageId === 'bad') return fail(400);
      if (route === 'edit' && (fields === null || !Object.hasOwn(fields, 'content') || !contentOk(fields.content))) return fail(400);
      const message = messageId === null ? undefined : world.messages.get(messageId);
      if (message === undefined || !world.member(message.conversationId, caller) || (route === 'edit' && message.deleted)) return fail(404);
      if (message.author !== caller) return fail(403);
      const method = route === 'edit' ? 'MESSAGE_EDITED' : 'MESSAGE_DELETED';
      // Deleting a deleted message answers with the same tombstone and tells no one.
      const tell = !message.deleted && toBystander(message.conversationId);
      if (route === 'edit') message.content = fields!.content as string;
      else message.deleted = true;
      return ok({ message: expect.objectContaining(relaxed(messageView(message))) }, tell ? [event({ method, message: messageView(message) })] : []);
    }
    case 'notify': {
      if (fields === null || depthOf(fields) > MAX_NOTIFICATION_DEPTH) return fail(400);
      const { users, ...payload } = fields;
      if (!Array.isArray(users) || users.length < 1 || users.length > MAX_NOTIFICATION_USERS) return fail(400);
      const ids = users.map(wireId);
      if (ids.includes(null) || typeof payload.content !== 'string' || payload.content.length === 0) return fail(400);
      if (Buffer.byteLength(JSON.stringify({ method: 'NOTIFICATION_SENT', data: payload })) > MAX_NOTIFICATION_BYTES) return fail(400);
      const online = new Set(ids as string[]);
      const count = [...online].filter((id) => world.online.has(id)).length;
      // The member gets the payload as JSON carries it: a body's `-0` arrives as `0`.
      const data = JSON.parse(JSON.stringify(payload));
      return ok({ users: count }, online.has(world.bystander) && world.online.has(world.bystander) ? [event({ method: 'NOTIFICATION_SENT', data })] : []);
    }
    default:
      throw new Error(`the oracle has no rule for ${route}`);
  }
}

/** A Message of an answer, compared on what the test can predict (deletedAt as a boolean). */
function relaxed(view: Record<string, unknown>): Record<string, unknown> {
  const { deleted, ...rest } = view;
  return { ...rest, deletedAt: deleted ? expect.any(String) : null };
}

/** `before` of GET /massenger: a conversation id, or an ISO 8601 date (or date-time) from 1970 to 9999. */
function cursorOk(values: string[]): boolean {
  if (values.length !== 1) return false;
  const v = values[0]!;
  const n = codePoints(v);
  if (n < 1 || n > 64) return false;
  if (/^[0-9]+$/.test(v)) return wireId(v) !== null;
  const ms = /^\d{4}-\d{2}-\d{2}(T|$)/.test(v) ? Date.parse(v) : NaN;
  return ms >= Date.UTC(1970, 0, 1) && ms <= Date.UTC(9999, 11, 31, 23, 59, 59, 999);
}

