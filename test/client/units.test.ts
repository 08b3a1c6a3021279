/**
 * The client library's pure parts: backoff, token expiry, message versions, argument checks and
 * the local state helper. The protocol against a real node is in the other suites of this folder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Backoff } from '../../src/client/backoff.js';
import { Emitter } from '../../src/client/emitter.js';
import type { Conversation, Message } from '../../src/client/frames.js';
import { MassengerClient } from '../../src/client/index.js';
import { ChatState } from '../../src/client/state.js';
import { refreshAt, tokenExpiry } from '../../src/client/token.js';
import { compareIds, MessageVersions } from '../../src/client/versions.js';

function jwt(payload: object): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part(payload)}.signature`;
}

function message(id: string, over: Partial<Message> = {}): Message {
  const at = '2026-01-01T00:00:00.000Z';
  return { id, conversationId: '1', author: '2', content: `m${id}`, createdAt: at, updatedAt: at, deletedAt: null, clientMessageId: null, ...over };
}

function conversation(id: string, over: Partial<Conversation> = {}): Conversation {
  const at = '2026-01-01T00:00:00.000Z';
  const users = [
    { id: '1', username: 'me', profilePicture: null, lastVisit: null, online: true },
    { id: '2', username: 'friend', profilePicture: null, lastVisit: null, online: false },
  ];
  return { id, createdAt: at, lastActivityAt: at, unread: false, unreadCount: 0, active: false, private: true, lastMessage: null, users, ...over };
}

describe('the library files', () => {
  it('import nothing but each other: no Node built-in, no package, no server code', () => {
    const dir = new URL('../../src/client/', import.meta.url);
    const outside = readdirSync(dir).flatMap((name) =>
      [...readFileSync(new URL(name, dir), 'utf8').matchAll(/^import\s+['"]([^'"]+)['"]|^(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm)]
        .map((m) => `${name}: ${m[1] ?? m[2]}`)
        .filter((line) => !/: \.\/[a-z-]+\.js$/.test(line)),
    );
    expect(outside).toEqual([]);
  });
});

describe('Backoff', () => {
  it('doubles its ceiling per attempt, jitters within [ceiling/2, ceiling) and stops at maxMs', () => {
    const low = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
    const high = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5].map(() => low.next())).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map(() => high.next())).toEqual([100, 200, 400, 800, 1000]);
  });

  it('waits at least rateLimitedMs after a 4429, and starts over after reset()', () => {
    const b = new Backoff({ baseMs: 100, rateLimitedMs: 5000, random: () => 0 });
    expect(b.next(true)).toBe(5000);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(50);
  });

  it('refuses a delay that is not a positive number', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(/baseMs must be a positive number/);
  });
});

describe('tokens', () => {
  it('reads exp (seconds) as ms without verifying, null when absent', () => {
    expect(tokenExpiry(jwt({ sub: '1', exp: 1_700_000_000 }))).toBe(1_700_000_000_000);
    expect(tokenExpiry(jwt({ sub: '1' }))).toBeNull();
  });

  it('names what is wrong with something that is not a JWT', () => {
    expect(() => tokenExpiry('not-a-jwt')).toThrow(/three dot-separated parts/);
    expect(() => tokenExpiry('a.%%%.c')).toThrow(/base64url-encoded JSON/);
    expect(() => tokenExpiry(jwt({ exp: 'soon' }))).toThrow(/exp must be a number/);
  });

  it('refreshes leadMs before exp, or half-way through what is left when that is sooner', () => {
    expect(refreshAt(100_000, 0, 10_000)).toBe(90_000);
    expect(refreshAt(4_000, 0, 10_000)).toBe(2_000);
  });
});

describe('MessageVersions', () => {
  it('compares decimal ids by value', () => {
    expect(compareIds('9', '10')).toBe(-1);
    expect(compareIds('10', '10')).toBe(0);
    expect(['100', '9', '11'].sort(compareIds)).toEqual(['9', '11', '100']);
  });

  it('passes each version of a message once, the latest updatedAt winning', () => {
    const v = new MessageVersions(10, null);
    expect(v.offer(message('5'), true)).toBe(true);
    expect(v.offer(message('5'), true)).toBe(false);
    const edited = message('5', { updatedAt: '2026-01-01T00:00:01.000Z' });
    expect(v.offer(edited, true)).toBe(true);
    expect(v.offer(message('5'), true)).toBe(false); // an older version arriving late
  });

  it('moves the resume point only for messages of the live stream', () => {
    const v = new MessageVersions(10, '3');
    v.offer(message('9'), false);
    expect(v.lastMessageId).toBe('3');
    v.offer(message('12'), true);
    v.offer(message('10'), true);
    expect(v.lastMessageId).toBe('12');
  });

  it('forgets the least recently changed message beyond its capacity', () => {
    const v = new MessageVersions(2, null);
    for (const id of ['1', '2', '3']) v.offer(message(id), true);
    expect(v.offer(message('1'), true)).toBe(true);
    expect(v.offer(message('3'), true)).toBe(false);
  });
});

describe('MassengerClient arguments', () => {
  const token = jwt({ sub: '1', exp: Math.floor(Date.now() / 1000) + 3600 });

  it('refuses bad options with an error naming them', () => {
    expect(() => new MassengerClient({ url: 'http://x', token, WebSocket })).toThrow(/url must be a ws:\/\/ or wss:\/\/ URL/);
    expect(() => new MassengerClient({ url: 'ws://bad host/', token, WebSocket })).toThrow(/url must be/);
    expect(() => new MassengerClient({ url: 'ws://x', token: '', WebSocket })).toThrow(/token must be a non-empty string/);
    expect(() => new MassengerClient({ url: 'ws://x', token: 'abc', WebSocket })).toThrow(/three dot-separated parts/);
    expect(() => new MassengerClient({ url: 'ws://x', token, WebSocket, heartbeatIntervalMs: -1 })).toThrow(/heartbeatIntervalMs/);
    expect(() => new MassengerClient({ url: 'ws://x', token, WebSocket, lastMessageId: 'x' })).toThrow(/lastMessageId/);
  });

  it('names the missing WebSocket on a platform without one', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      expect(() => new MassengerClient({ url: 'ws://x', token })).toThrow(/pass options.WebSocket/);
    } finally {
      if (saved !== undefined) global.WebSocket = saved;
    }
  });

  it('rejects a bad argument with INVALID_DATA before anything is written', async () => {
    const client = new MassengerClient({ url: 'ws://127.0.0.1:9/', token, WebSocket });
    await expect(client.send('abc', 'hi')).rejects.toMatchObject({ name: 'MassengerError', code: 'INVALID_DATA', message: expect.stringMatching(/conversationId/) });
    await expect(client.send(1, 42 as unknown as string)).rejects.toMatchObject({ code: 'INVALID_DATA' });
    await expect(client.send(1, 'hi', { clientMessageId: 'x'.repeat(65) })).rejects.toMatchObject({ code: 'INVALID_DATA' });
    await expect(client.fetchMessages(1, { limit: 101 })).rejects.toMatchObject({ code: 'INVALID_DATA' });
    await expect(client.send(1, 'x'.repeat(70_000))).rejects.toMatchObject({ code: 'INVALID_DATA', message: expect.stringMatching(/bytes/) });
    expect(client.state).toBe('idle');
    expect(client.pendingSends).toBe(0);
    client.close();
    await expect(client.ping()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('Emitter', () => {
  it('keeps calling the other listeners when one throws, and rethrows on its own', async () => {
    const e = new Emitter<{ x: number }>();
    const seen: number[] = [];
    const thrown = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    e.on('x', () => {
      throw new Error('listener bug');
    });
    e.on('x', (n) => seen.push(n));
    e.emit('x', 1);
    expect(seen).toEqual([1]);
    expect(await thrown).toMatchObject({ message: 'listener bug' });
  });
});

describe('ChatState', () => {
  const init = (over: Partial<Conversation> = {}) => ({
    userId: '1',
    conversations: [conversation('1', over), conversation('7', { lastActivityAt: '2026-01-02T00:00:00.000Z' })],
    onlineFriends: [],
  });

  it('counts others’ messages as unread, and clears them when the user sees or writes', () => {
    const s = new ChatState();
    s.apply('INIT', init());
    s.apply('MESSAGE_SENT', { message: message('10') });
    s.apply('MESSAGE_SENT', { message: message('11', { createdAt: '2026-01-03T00:00:00.000Z' }) });
    expect(s.conversation('1')).toMatchObject({ unread: true, unreadCount: 2, lastMessage: { id: '11' } });
    expect(s.conversations.map((c) => c.id)).toEqual(['1', '7']);
    s.apply('CONVERSATION_SEEN', { conversationId: '1', userId: '1', seenAt: '2026-01-03T00:00:01.000Z' });
    expect(s.conversation('1')).toMatchObject({ unread: false, unreadCount: 0 });
    s.apply('MESSAGE_SENT', { message: message('12') });
    s.apply('MESSAGE_SENT', { message: message('13', { author: '1' }) });
    expect(s.conversation('1')).toMatchObject({ unread: false, unreadCount: 0 });
  });

  it('keeps the latest version of each message, and a deleted unread message stops counting', () => {
    const s = new ChatState();
    s.apply('INIT', init());
    s.apply('MESSAGE_SENT', { message: message('10') });
    const tombstone = message('10', { content: '', deletedAt: '2026-01-01T00:00:02.000Z', updatedAt: '2026-01-01T00:00:02.000Z' });
    s.apply('MESSAGE_DELETED', { message: tombstone });
    s.apply('MESSAGE_EDITED', { message: message('10', { content: 'late', updatedAt: '2026-01-01T00:00:01.000Z' }) });
    expect(s.message('10')).toEqual(tombstone);
    expect(s.conversation('1')).toMatchObject({ unread: false, unreadCount: 0, lastMessage: tombstone });
    s.apply('MESSAGES', { conversationId: '1', hasMore: false, messages: [message('3'), message('10')] });
    expect(s.messages('1').map((m) => m.id)).toEqual(['3', '10']);
  });

  it('follows friends coming and going, receipts, typing and membership', () => {
    const s = new ChatState();
    s.apply('INIT', init());
    s.apply('USER_JOINED', { id: '2', userId: '2', conversationId: '1' });
    expect(s.onlineFriends).toEqual([{ id: '2', conversationId: '1' }]);
    expect(s.conversation('1')).toMatchObject({ active: true });
    s.apply('USER_LEFT', { userId: '2' });
    expect(s.isOnline('2')).toBe(false);
    expect(s.conversation('1')).toMatchObject({ active: false });
    s.apply('CONVERSATION_SEEN', { conversationId: '1', userId: '2', seenAt: '2026-01-05T00:00:00.000Z' });
    expect(s.seenBy('1').get('2')).toBe('2026-01-05T00:00:00.000Z');
    s.apply('TYPING', { conversationId: '1', userId: '2' });
    expect(s.typing('1')).toEqual(['2']);
    expect(s.typing('1', Date.now() + 6000)).toEqual([]);
    s.apply('MEMBERS_CHANGED', { conversationId: '7', added: ['3'], removed: ['2'], by: '1' });
    expect(s.conversation('7')!.users.map((u) => u.id)).toEqual(['1', '3']);
    s.apply('MEMBERS_CHANGED', { conversationId: '7', added: [], removed: ['1'], by: '1' });
    expect(s.conversation('7')).toBeUndefined();
  });

  it('says when INIT could not recover everything, until a complete one', () => {
    const s = new ChatState();
    let changes = 0;
    s.onChange(() => changes++);
    s.apply('INIT', { ...init(), missedMessages: [], recovered: false });
    expect(s.needsReload).toBe(true);
    s.apply('INIT', { ...init(), missedMessages: [], recovered: true });
    expect(s.needsReload).toBe(false);
    expect(changes).toBe(2);
  });
});
