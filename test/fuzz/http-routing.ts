/**
 * What Node and Fastify do with a request before a route's own code runs, as the HTTP oracle
 * predicts it: the request as written from a case, which route a path and method reach (static
 * segments before parameters, case-insensitive, a trailing slash ignored), percent-decoding,
 * the parameter length limit (414), the Bearer token, and the body (415, 413, 400).
 */
import type { Resolve } from './json-text.js';
import { type HttpCase, type Route, ROUTES, writeAuthorization, writeBody, writePart } from './http-arbitraries.js';

/** docs/protocol.md: bodies up to 1 MiB; the router's limit on a path parameter, in characters. */
const BODY_LIMIT_BYTES = 1024 * 1024;
const MAX_PARAM_CHARS = 100;
/** Methods whose body Fastify parses (GET and HEAD bodies are ignored). */
export const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A request as sent: method, URL, headers, body. */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** The request a case describes, its fixtures resolved to ids and tokens. */
export function toRequest(c: HttpCase, resolve: Resolve): HttpRequest {
  let params = 0;
  const segments = ROUTES[c.route].path
    .split('/')
    .slice(1)
    .map((s) => (s.startsWith(':') ? writePart(c.params[params++]!, resolve) : c.upper ? s.toUpperCase() : s));
  let path = `/${segments.join('/')}`;
  if (c.trailingSlash && path !== '/') path += '/';
  const query = c.query.map(([k, v]) => `${k}=${writePart(v, resolve)}`).join('&');
  const headers: Record<string, string> = Object.fromEntries(c.headers);
  if (c.authorization !== null) headers.authorization = writeAuthorization(c.authorization, resolve);
  if (c.contentType !== null) headers['content-type'] = c.contentType;
  return { method: c.method, url: query === '' ? path : `${path}?${query}`, headers, body: c.body === null ? undefined : writeBody(c.body, resolve) };
}

/** The route a path and method reach: static segments before parameters, as a router picks. */
export function routeOf(method: string, segments: string[]): Route | null {
  let best: { route: Route; rank: string } | null = null;
  for (const [route, r] of Object.entries(ROUTES) as Array<[Route, (typeof ROUTES)[Route]]>) {
    if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
    const template = r.path.split('/').slice(1).filter((s) => s !== '');
    if (template.length !== segments.length) continue;
    let rank = '';
    let matches = true;
    for (const [i, t] of template.entries()) {
      if (t.startsWith(':')) rank += '1';
      else if (t.toLowerCase() === segments[i]!.toLowerCase()) rank += '0';
      else matches = false;
    }
    if (matches && (best === null || rank < best.rank)) best = { route, rank };
  }
  return best?.route ?? null;
}

/** Whether a segment over MAX_PARAM_CHARS sits where a route of this method has a parameter, after matching static segments. */
export function tooLong(method: string, segments: string[]): boolean {
  return Object.values(ROUTES).some((r) => {
    if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) return false;
    const template = r.path.split('/').slice(1);
    for (const [i, t] of template.entries()) {
      const segment = segments[i];
      if (segment === undefined) return false;
      if (t.startsWith(':')) {
        if (decoded(segment)!.length > MAX_PARAM_CHARS) return true;
      } else if (t.toLowerCase() !== segment.toLowerCase()) return false;
    }
    return false;
  });
}

export function decoded(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

/** The token of `Authorization: Bearer <token>`, or null. */
export function bearer(header: string | undefined): string | null {
  return header === undefined ? null : (/^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null);
}

/** The body as the route sees it, or the status refusing it (415, 413, 400). */
export function parseBody(req: HttpRequest): { value: unknown } | { status: number } {
  const text = req.body ?? '';
  const media = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (media === undefined) return text === '' ? { value: undefined } : { status: 415 };
  if (media !== 'application/json' && media !== 'text/plain') return { status: 415 };
  if (Buffer.byteLength(text) > BODY_LIMIT_BYTES) return { status: 413 };
  if (media === 'text/plain') return { value: text };
  if (text === '') return { status: 400 };
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch {
    return { status: 400 };
  }
  // Fastify refuses the keys that would reach an object's prototype (secure-json-parse).
  return poisoned(value) ? { status: 400 } : { value };
}

function poisoned(value: unknown): boolean {
  const stack = [value];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (typeof v !== 'object' || v === null) continue;
    if (Object.hasOwn(v, '__proto__')) return true;
    const ctor = (v as Record<string, unknown>).constructor;
    if (Object.hasOwn(v, 'constructor') && typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return true;
    stack.push(...Object.values(v));
  }
  return false;
}

