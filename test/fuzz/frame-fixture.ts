/**
 * The node the frame fuzzing runs against, with its fixtures: "me" (the fuzzing side), the
 * bystander (the other member of the group, online all along) and a stranger, a group and a
 * conversation "me" is not in, messages to aim edits and deletes at; and the fence (a PING whose
 * PONG proves every earlier frame was handled) and the bystander's check.
 */
import { createSigner } from 'fast-jwt';
import { expect } from 'vitest';
import WebSocket from 'ws';
import type { Backend, BackendNode } from '../support/backends.js';
import { TestClient, type Frame } from '../support/client.js';
import { createGroup, createUser } from '../../scripts/support/fixtures.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { closedWithin, uniqueName, waitFor } from '../gateway/helpers.js';
import type { Wire } from './frame-oracle.js';
import { viewOf, type Expected } from './views.js';
import { fenceId, isFenceId, named, World } from './world.js';

/** A user id no row has: its valid token signs in to nothing (README "Tokens"). */
const GHOST = '9000000000000000002';
/** Ids no row has: the largest bigints. */
const UNKNOWN_CONVERSATION = '9223372036854775807';
const UNKNOWN_MESSAGE = '9223372036854775806';

/** A node with its fixtures: me (the fuzzing side), the bystander and a stranger, two conversations, messages. */
export interface Fixture {
  t: BackendNode;
  world: World;
  me: string;
  group: string;
  foreign: string;
  tokens: Record<string, string>;
  /** The bystander's connection, and how far its frames have been checked. */
  bystander: TestClient;
  checked: number;
}

export async function fixture(backend: Backend, env: Record<string, string>): Promise<Fixture> {
  const t = await backend.start(env);
  const me = await createUser(t.db, uniqueName('me'));
  const other = await createUser(t.db, uniqueName('by'));
  const stranger = await createUser(t.db, uniqueName('st'));
  const group = await createGroup(t.db, [me, other]);
  const foreign = await createGroup(t.db, [other, stranger]);
  const world = new World(other);
  world.members.set(group, new Set([me, other]));
  world.members.set(foreign, new Set([other, stranger]));
  const tokens: Record<string, string> = {
    'token:me': await signToken(me),
    'token:bystander': await signToken(other),
    'token:ghost': await signToken(GHOST),
    'token:expired': await signToken(me, -10),
    'token:forged': await signToken(me, 3600, 'not-the-secret-not-the-secret-not-the-secret'),
    'token:noSub': createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: '1h' })({}),
  };
  world.tokens.set(tokens['token:me']!, me);
  world.tokens.set(tokens['token:bystander']!, other);
  world.tokens.set(tokens['token:ghost']!, GHOST);

  const bystander = await signedIn(t, tokens['token:bystander']!);
  const mine = await signedIn(t, tokens['token:me']!);
  const send = async (client: TestClient, author: string, conversationId: string, content: string) => {
    const reply = await client.request('SEND_MESSAGE', { conversationId, content }, 'MESSAGE_SENT');
    expect(reply.method, JSON.stringify(reply.data)).toBe('MESSAGE_SENT');
    const message = { id: reply.data.message.id as string, conversationId, author, content, clientMessageId: null, deleted: false };
    world.add(message);
    return message;
  };
  for (const text of ['one', 'two', 'three']) await send(mine, me, group, text);
  const deleted = await send(mine, me, group, 'gone');
  expect((await mine.request('DELETE_MESSAGE', { messageId: deleted.id }, 'MESSAGE_DELETED')).method).toBe('MESSAGE_DELETED');
  deleted.deleted = true;
  await send(bystander, other, group, 'theirs');
  await send(bystander, other, foreign, 'not yours');
  mine.close();
  await closedWithin(mine);
  return { t, world, me, group, foreign, tokens, bystander, checked: bystander.frames.length };
}

export async function signedIn(t: BackendNode, token: string): Promise<TestClient> {
  const client = await TestClient.open(t.ws);
  client.send('AUTHENTICATE', { token });
  await waitFor(client, 'INIT');
  return client;
}

/** Fixture names to ids, as the world stands when a case starts. */
export function resolver(f: Fixture): (name: string) => string {
  const live = (author: string, conversationId: string) =>
    [...f.world.messages.values()].filter((m) => m.author === author && m.conversationId === conversationId && !m.deleted).at(-1)?.id ?? UNKNOWN_MESSAGE;
  const ids: Record<string, string> = {
    group: f.group,
    foreign: f.foreign,
    unknownConversation: UNKNOWN_CONVERSATION,
    ownMessage: live(f.me, f.group),
    ownDeleted: [...f.world.messages.values()].find((m) => m.author === f.me && m.deleted)?.id ?? UNKNOWN_MESSAGE,
    othersMessage: live(f.world.bystander, f.group),
    foreignMessage: [...f.world.messages.values()].find((m) => m.conversationId === f.foreign)?.id ?? UNKNOWN_MESSAGE,
    unknownMessage: UNKNOWN_MESSAGE,
    ...f.tokens,
  };
  return named(ids);
}


/** Every frame sent on `client` before this has been handled once its PONG is back. */
export async function fence(client: TestClient): Promise<void> {
  const requestId = fenceId();
  client.send('PING', { requestId });
  await waitFor(client, 'PONG', (d) => d.requestId === requestId);
}

export function write(client: TestClient, wire: Wire): void {
  if (client.ws.readyState !== WebSocket.OPEN) return;
  if ('text' in wire) client.raw(wire.text);
  else client.raw(wire.bytes, wire.binary);
}

export const replies = (client: TestClient): Frame[] => client.frames.filter((f) => !(f.method === 'PONG' && isFenceId(f.data.requestId)));

/** Asserts that `frames` are the predicted ones, in order. */
export function expectFrames(frames: Frame[], expected: Expected[], what: string): void {
  const views = frames.map((frame, i) => viewOf(frame, expected[i]?.page));
  expect(views, what).toEqual(expected.map((e) => e.view));
}

/**
 * The bystander's events since the last check are exactly `expected` (its PONG fences every event
 * sent to it before); then it still chats: its own message is stored and acknowledged.
 */
export async function checkBystander(f: Fixture, expected: Expected[]): Promise<void> {
  const requestId = fenceId();
  f.bystander.send('PING', { requestId });
  const pong = await waitFor(f.bystander, 'PONG', (d) => d.requestId === requestId);
  const at = f.bystander.frames.indexOf(pong);
  const events = f.bystander.frames.slice(f.checked, at);
  const reply = await f.bystander.request('SEND_MESSAGE', { conversationId: f.group, content: `still here ${at}` }, 'MESSAGE_SENT');
  // Checked from here on whatever this check finds, so a failing case does not taint the next.
  f.checked = f.bystander.frames.indexOf(reply) + 1;
  expect(reply.method, JSON.stringify(reply.data)).toBe('MESSAGE_SENT');
  const m = reply.data.message;
  f.world.add({ id: m.id, conversationId: f.group, author: f.world.bystander, content: m.content, clientMessageId: null, deleted: false });
  expectFrames(events, expected, 'the bystander\'s events');
}
