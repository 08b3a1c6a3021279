/**
 * What a node does with bus events of conversations whose members or messages change: departures
 * silence a user who left (even for events whose member list was read before the leave), and a
 * change's requesting connection gets its own copy in the place of the shared one.
 */
import { describe, expect, it } from 'vitest';
import type { BusEvent } from '../../src/bus/bus.js';
import { Departures } from '../../src/core/departures.js';
import { createReceiver } from '../../src/core/fanout.js';
import { Hub, type Peer } from '../../src/core/hub.js';
import { guardReceiver } from '../../src/core/receiver-guard.js';
import { Replies } from '../../src/core/replies.js';
import { encode } from '../../src/protocol/codec.js';
import type { ServerMethod } from '../../src/protocol/frames.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function setup(now = () => 0) {
  const hub = new Hub();
  const inbox: Array<[string, string]> = [];
  const peer = (id: string): Peer => ({ id, send: (text, method) => inbox.push([id, method]) });
  hub.attach('a', peer('a1'));
  hub.attach('a', peer('a2'));
  hub.attach('b', peer('b1'));
  const invalidated: string[] = [];
  let membersInDb: string[] = ['a', 'b'];
  const members = { get: async () => membersInDb, invalidate: (id: string) => void invalidated.push(id) };
  const departures = new Departures({ members, staleListMs: 60_000, now });
  const replies = new Replies(now);
  const receive = guardReceiver(createReceiver({ hub, nodeId: 'n', log: silent }), { departures, replies, hub });
  const deliver = (method: ServerMethod, data: Record<string, unknown>, userIds = ['a', 'b']) =>
    receive({ type: 'deliver', userIds, method, text: JSON.stringify({ method, data }) });
  const message = (conversationId: string, messageId: string): BusEvent => ({
    type: 'message',
    conversationId,
    messageId,
    prevId: null,
    prevInFlight: false,
    userIds: ['a', 'b'],
    text: `{"m":${messageId}}`,
    origin: null,
  });
  const take = () => inbox.splice(0).map(([id, method]) => `${id}:${method}`);
  return { hub, departures, replies, receive, deliver, message, take, invalidated, setMembers: (m: string[]) => (membersInDb = m) };
}

const left = (conversationId: string, userId: string) => ({ conversationId, added: [], removed: [userId], by: userId });

describe('Departures', () => {
  it('delivers the leave to the one who left, then nothing more of that conversation, and nothing else changes', () => {
    const t = setup();
    t.deliver('MEMBERS_CHANGED', left('c1', 'b'));
    expect(t.take()).toEqual(['a1:MEMBERS_CHANGED', 'a2:MEMBERS_CHANGED', 'b1:MEMBERS_CHANGED']);
    expect(t.invalidated).toEqual(['c1']);
    // Lists read before the leave still name b: b is left out of c1's events of every kind.
    t.receive(t.message('c1', '10'));
    t.deliver('TYPING', { conversationId: 'c1', userId: 'a' });
    t.deliver('MESSAGE_EDITED', { message: { id: '9', conversationId: 'c1' } });
    t.deliver('MEMBERS_CHANGED', { conversationId: 'c1', added: [], removed: ['a'], by: 'a' });
    expect(t.take()).toEqual(['a1:MESSAGE_SENT', 'a2:MESSAGE_SENT', 'a1:TYPING', 'a2:TYPING', 'a1:MESSAGE_EDITED', 'a2:MESSAGE_EDITED', 'a1:MEMBERS_CHANGED', 'a2:MEMBERS_CHANGED']);
    // Other conversations and events about none are untouched.
    t.receive(t.message('c2', '11'));
    t.deliver('NOTIFICATION_SENT', { content: 'hi' });
    expect(t.take()).toEqual(['a1:MESSAGE_SENT', 'a2:MESSAGE_SENT', 'b1:MESSAGE_SENT', 'a1:NOTIFICATION_SENT', 'a2:NOTIFICATION_SENT', 'b1:NOTIFICATION_SENT']);
  });

  it('drops an event nobody may receive any more', () => {
    const t = setup();
    t.deliver('MEMBERS_CHANGED', left('c1', 'b'));
    t.take();
    t.deliver('TYPING', { conversationId: 'c1', userId: 'a' }, ['b']);
    expect(t.take()).toEqual([]);
  });

  it('forgets a departure when the user is added again, through massenger or (announced by the database) the main API', async () => {
    const t = setup();
    t.deliver('MEMBERS_CHANGED', left('c1', 'b'));
    t.deliver('MEMBERS_CHANGED', { conversationId: 'c1', added: ['b'], removed: [], by: 'a' });
    t.deliver('INVITATION_SENT', { conversationId: 'c1' }, ['b']);
    expect(t.take().filter((f) => f.startsWith('b1'))).toEqual(['b1:MEMBERS_CHANGED', 'b1:MEMBERS_CHANGED', 'b1:INVITATION_SENT']);
    expect(t.departures.size).toBe(0);

    t.deliver('MEMBERS_CHANGED', left('c1', 'b'));
    t.setMembers(['a']);
    t.departures.changed('c1');
    await new Promise((r) => setImmediate(r));
    expect(t.departures.size).toBe(1);
    t.setMembers(['a', 'b']);
    t.departures.changed('c1');
    await new Promise((r) => setImmediate(r));
    expect(t.departures.size).toBe(0);
    t.take();
    t.receive(t.message('c1', '12'));
    expect(t.take()).toContain('b1:MESSAGE_SENT');
  });

  it('remembers a departure only as long as a member list read before it may live', () => {
    let clock = 0;
    const t = setup(() => clock);
    t.deliver('MEMBERS_CHANGED', left('c1', 'b'));
    t.take();
    clock = 59_999;
    t.receive(t.message('c1', '13'));
    expect(t.take()).not.toContain('b1:MESSAGE_SENT');
    clock = 60_000;
    t.receive(t.message('c1', '14'));
    expect(t.take()).toContain('b1:MESSAGE_SENT');
  });

  it('delivers a malformed MEMBERS_CHANGED as it is, remembering nothing', () => {
    const t = setup();
    t.receive({ type: 'deliver', userIds: ['b'], method: 'MEMBERS_CHANGED', text: 'not json' });
    expect(t.take()).toEqual(['b1:MEMBERS_CHANGED']);
    expect(t.departures.size).toBe(0);
  });
});

describe('Replies', () => {
  it('gives the requesting connection its own copy, once, and everyone else the shared one', () => {
    const t = setup();
    const shared = encode({ method: 'MESSAGE_EDITED', data: { message: { id: '1' } as never } });
    const own = encode({ method: 'MESSAGE_EDITED', data: { message: { id: '1' } as never, requestId: 'r1' } });
    const texts: Array<[string, string]> = [];
    const hub = new Hub();
    hub.attach('a', { id: 'a1', send: (text) => texts.push(['a1', String(text)]) });
    hub.attach('a', { id: 'a2', send: (text) => texts.push(['a2', String(text)]) });
    const replies = new Replies();
    const receive = guardReceiver(createReceiver({ hub, nodeId: 'n', log: silent }), { departures: t.departures, replies, hub });
    replies.expect(shared, 'a1', own);
    receive({ type: 'deliver', userIds: ['a'], method: 'MESSAGE_EDITED', text: shared });
    receive({ type: 'deliver', userIds: ['a'], method: 'MESSAGE_EDITED', text: shared });
    expect(texts).toEqual([
      ['a1', own],
      ['a2', shared],
      ['a1', shared],
      ['a2', shared],
    ]);
    expect(replies.size).toBe(0);
  });

  it('gives up a copy whose event never came, after a while', () => {
    let clock = 0;
    const replies = new Replies(() => clock);
    replies.expect('x', 'p', 'y');
    clock = 10_000;
    expect(replies.take('x')).toBeUndefined();
    replies.expect('z', 'p', 'w');
    expect(replies.size).toBe(1);
  });
});
