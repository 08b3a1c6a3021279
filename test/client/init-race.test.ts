/**
 * An INIT reads the conversations (with their last message) and the missed messages in separate
 * queries, so a message stored between the two is a conversation's `lastMessage` but not in
 * `missedMessages`; it then comes live, right after INIT. A real node does this only when a commit
 * lands between those reads, so here a scripted peer on a real loopback WebSocket plays that
 * moment: the client must still hand the live message on, once.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { Clients } from './support.js';

const T = '2026-12-01T10:00:00.000Z';

function message(id: string) {
  return { id, conversationId: '10', author: '2', content: `m${id}`, createdAt: T, updatedAt: T, deletedAt: null, clientMessageId: null };
}

function init(lastMessageId: string, missed?: string[]) {
  return {
    userId: '1',
    conversations: [
      {
        id: '10', createdAt: T, lastActivityAt: T, unread: true, unreadCount: 1, active: true, private: true,
        lastMessage: message(lastMessageId),
        users: [
          { id: '1', username: 'me', profilePicture: null, lastVisit: null, online: true },
          { id: '2', username: 'friend', profilePicture: null, lastVisit: null, online: true },
        ],
      },
    ],
    onlineFriends: [{ id: '2', conversationId: '10' }],
    ...(missed === undefined ? {} : { missedMessages: missed.map(message), recovered: true }),
  };
}

/** A JWT the scripted peer takes as is: the client only reads its (absent) exp. */
const TOKEN = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1"}').toString('base64url')}.x`;

const send = (ws: WebSocket, method: string, data: unknown) => ws.send(JSON.stringify({ method, data }));

describe('MassengerClient when INIT and the live stream overlap', () => {
  const clients = new Clients();
  let server: WebSocketServer | undefined;
  afterEach(async () => {
    clients.closeAll();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('passes on a message that a resuming INIT lists as lastMessage but not in missedMessages', async () => {
    const authenticates: Array<{ lastMessageId?: string }> = [];
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (ws) => {
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as { method: string; data: { lastMessageId?: string } };
        if (frame.method !== 'AUTHENTICATE') return;
        authenticates.push(frame.data);
        if (authenticates.length === 1) {
          // The first session: message 5 is the last one, and comes live too (held behind INIT).
          send(ws, 'INIT', init('5'));
          send(ws, 'MESSAGE_SENT', { message: message('5') });
          send(ws, 'MESSAGE_SENT', { message: message('6') });
          setTimeout(() => ws.terminate(), 20);
          return;
        }
        // The resume: 7 was stored before the missed messages were read, 8 between the two reads.
        send(ws, 'INIT', init('8', ['7']));
        send(ws, 'MESSAGE_SENT', { message: message('8') });
      });
    });
    await new Promise<void>((resolve) => server!.once('listening', resolve));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const { client, rec } = clients.make({ url, token: TOKEN });
    await client.connect();

    await rec.waitFor('INIT', () => true, 8000, 2);
    await rec.until(() => rec.messagesReceived().some((m) => m.id === '8'), 'message 8 live after the resuming INIT');
    expect(authenticates.map((a) => a.lastMessageId)).toEqual([undefined, '6']);
    // 5 came in the first INIT as the starting point: its live copy is not passed on again.
    expect(rec.messagesReceived().map((m) => m.id)).toEqual(['6', '7', '8']);
  });
});
