/**
 * The published JSON Schema (docs/frames.schema.json) describes what a real node sends: a session
 * of raw WebSocket clients makes the node send every server event, and every frame received must
 * be valid ServerFrame. Together with test/docs.test.ts (client frames against the codec) this
 * keeps the schema and the server in step.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { befriend, createUser } from '../../scripts/support/fixtures.js';
import type { Frame } from '../support/client.js';
import type { TestNode } from '../support/node.js';
import { Clients as RawClients, uniqueName, waitFor } from '../gateway/helpers.js';
import { SchemaChecker } from './json-schema.js';
import { NODE_START_MS, startTestNode } from './support.js';

const schema = JSON.parse(readFileSync(new URL('../../docs/frames.schema.json', import.meta.url), 'utf8'));
const checker = new SchemaChecker(schema);
const serverMethods = Object.keys(schema.$defs).filter((k) => k.startsWith('server.')).map((k) => k.slice('server.'.length));

describe('what a node sends matches docs/frames.schema.json', () => {
  let t: TestNode;
  let raw: RawClients;
  beforeAll(async () => {
    t = await startTestNode();
    raw = new RawClients(() => t);
  }, NODE_START_MS);
  afterEach(() => raw.closeAll());
  afterAll(async () => {
    await raw?.closeAll();
    await t?.close();
  });

  it('every server event, from a session that causes each of them, is a valid ServerFrame', async () => {
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => createUser(t.db, uniqueName(n))));
    const privateId = await befriend(t.db, alice!, bob!);
    const { client: b } = await raw.signIn(bob!);
    const { client: a } = await raw.signIn(alice!);
    const frames: Frame[] = [];
    const http = async (method: string, path: string, body: unknown, token?: string) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${t.http}${path}`, { method, headers, body: JSON.stringify(body) });
      expect(res.status, path).toBe(200);
      return ((await res.json()) as { data: Record<string, any> }).data;
    };

    await waitFor(b, 'USER_JOINED');
    const sent = await a.request('SEND_MESSAGE', { conversationId: privateId, content: 'hi', clientMessageId: 'c-1' }, 'MESSAGE_SENT');
    const messageId = sent.data.message.id as string;
    a.send('OPEN_CONVERSATION', { conversationId: privateId });
    await waitFor(b, 'CONVERSATION_SEEN');
    a.send('TYPING', { conversationId: privateId });
    await waitFor(b, 'TYPING');
    await a.request('FETCH_MESSAGES', { conversationId: privateId, limit: 10 }, 'MESSAGES');
    await a.request('EDIT_MESSAGE', { messageId, content: 'hi!' }, 'MESSAGE_EDITED');
    await a.request('DELETE_MESSAGE', { messageId }, 'MESSAGE_DELETED');
    await a.request('PING', {}, 'PONG');
    a.send('NO_SUCH_METHOD', { requestId: 'bad-1' });
    await waitFor(a, 'ERROR');
    const token = await t.token(alice!);
    const { conversationId: groupId } = await http('POST', '/massenger/startConversation', { userIds: [bob] }, token);
    await waitFor(b, 'INVITATION_SENT');
    await http('POST', `/massenger/${groupId}/members`, { userIds: [carol] }, token);
    await waitFor(b, 'MEMBERS_CHANGED');
    await http('POST', '/socket/notifications', { users: [bob], content: 'you have a friend request', name: 'Dave', img: null, extra: { nested: [1] } });
    await waitFor(b, 'NOTIFICATION_SENT');
    a.close();
    await waitFor(b, 'USER_LEFT');
    frames.push(...a.frames);
    // Back with lastMessageId: INIT with missedMessages and recovered.
    const { client: again } = await raw.signIn(alice!, { lastMessageId: '0' });
    frames.push(...again.frames, ...b.frames);

    const seen = new Set(frames.map((f) => f.method));
    expect([...seen].sort()).toEqual([...serverMethods].sort());
    const invalid = frames
      .map((frame) => ({ method: frame.method, errors: checker.errors({ $ref: '#/$defs/ServerFrame' }, frame) }))
      .filter((r) => r.errors.length > 0);
    // Name the first problem of each method, not the oneOf summary alone.
    const detail = invalid.map((r) => ({ method: r.method, errors: checker.errors({ $ref: `#/$defs/server.${r.method}` }, frames.find((f) => f.method === r.method)) }));
    expect(detail).toEqual([]);
    expect(frames.find((f) => f.method === 'INIT' && f.data.missedMessages !== undefined)?.data.recovered).toBe(true);
  });
});
