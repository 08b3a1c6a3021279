/**
 * The node the HTTP fuzzing runs against, with its fixtures: four users (one of them the bystander,
 * online on a WebSocket, and friends with "me"), a group, their private conversation and a
 * conversation "me" is not in, messages to aim edits and deletes at; and what puts them back
 * after a case, so every case starts from the same memberships.
 */
import { randomBytes } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { expect } from 'vitest';
import type { BackendNode } from '../support/backends.js';
import { TestClient } from '../support/client.js';
import { befriend, createGroup, createUser } from '../../scripts/support/fixtures.js';
import { signToken, TEST_SECRET } from '../support/node.js';
import { closedWithin, uniqueName, waitFor } from '../gateway/helpers.js';
import type { Secrets } from './http-oracle.js';
import { fenceId, named, World } from './world.js';

const GHOST = '9000000000000000003';
const UNKNOWN_CONVERSATION = '9223372036854775807';
const UNKNOWN_MESSAGE = '9223372036854775806';
export const SECRETS: Secrets = { internal: `internal-${randomBytes(8).toString('hex')}`, metrics: `metrics-${randomBytes(8).toString('hex')}` };

export interface Fixture {
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

export async function fixture(t: BackendNode): Promise<Fixture> {
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
    'token:noSub': createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: '1h' })({}),
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

export function resolver(f: Fixture): (name: string) => string {
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
  return named(ids);
}

/**
 * The bystander's events since the last check, fenced by a PING of its own. Presence is left out:
 * `replenish` signs the bystander's friend in and out, and USER_LEFT follows within seconds.
 */
export async function bystanderEvents(f: Fixture): Promise<Array<{ method: string; data: Record<string, any> }>> {
  const requestId = fenceId();
  f.bystander.send('PING', { requestId });
  const pong = await waitFor(f.bystander, 'PONG', (d) => d.requestId === requestId);
  const at = f.bystander.frames.indexOf(pong);
  const events = f.bystander.frames.slice(f.checked, at).filter((e) => e.method !== 'USER_JOINED' && e.method !== 'USER_LEFT');
  f.checked = at + 1;
  return events;
}

/** Puts the fixture conversations back to their members: those added leave, those who left are added back. */
export async function restore(f: Fixture): Promise<void> {
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
