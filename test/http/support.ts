/**
 * Shared by the HTTP contract suites: the backends each suite runs on (PGlite always, PostgreSQL
 * in a fresh database when reachable; required when CI=true), and envelope assertions (spec §3).
 */
import { expect } from 'vitest';
import type { TestClient } from '../support/client.js';
import { backends as reachableBackends } from '../support/backends.js';
import type { TestNode } from '../support/node.js';

export const backends = await reachableBackends();

/** What `app.inject()` resolves with, as far as these suites look at it. */
export interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
  json(): any;
}

/**
 * Asserts the spec §3 envelope: exactly `{data, errors}`, `errors: null` on success, and
 * `data: null` with a non-empty message on failure. Returns the parsed body.
 */
export function envelope(res: Answer): { data: any; errors: string | null } {
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = res.json();
  expect(Object.keys(body).sort()).toEqual(['data', 'errors']);
  if (res.statusCode < 400) {
    expect(body.errors).toBeNull();
  } else {
    expect(body.data).toBeNull();
    expect(typeof body.errors).toBe('string');
    expect(body.errors.length).toBeGreaterThan(0);
  }
  return body;
}

/** The envelope of a failed answer with this status; returns the message. */
export function failure(res: Answer, status: number): string {
  expect(res.statusCode, res.body).toBe(status);
  return envelope(res).errors as string;
}

/** The `data` of a successful answer with this status (200 unless told). */
export function success(res: Answer, status = 200): any {
  expect(res.statusCode, res.body).toBe(status);
  return envelope(res).data;
}

export async function auth(t: TestNode, userId: string): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await t.token(userId)}` };
}

let unique = 0;
/** A username no other test of this process uses. */
export function name(prefix: string): string {
  unique += 1;
  return `${prefix}-${process.pid}-${unique}`;
}

/** POST /massenger/startConversation as `callerId`; resolves with the new id. */
export async function startConversation(t: TestNode, callerId: string, userIds: string[]): Promise<string> {
  const res = await t.node.app.inject({ method: 'POST', url: '/massenger/startConversation', headers: await auth(t, callerId), payload: { userIds } });
  return success(res).conversationId;
}

/** Sends a message over the client's WebSocket; resolves with the stored Message from the ack. */
export async function send(client: TestClient, conversationId: string, content: string): Promise<any> {
  const reply = await client.request('SEND_MESSAGE', { conversationId, content }, 'MESSAGE_SENT');
  expect(reply.method, JSON.stringify(reply.data)).toBe('MESSAGE_SENT');
  return reply.data.message;
}
