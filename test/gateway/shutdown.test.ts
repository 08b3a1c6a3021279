/**
 * Issue 7, defect 6: shutdown dropped acknowledgements. The gateway sent 1001 before its
 * connections drained, so a SEND_MESSAGE stored in that window was never acknowledged. Now:
 * /readyz answers 503 and upgrades are refused, no new frame is read, the frames already taken
 * finish and their replies are written, and only then 1001. The guarantee checked here: every
 * message found in the database afterwards was acknowledged to its sender, and nothing the server
 * did not take was stored.
 */
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { openDb } from '../../src/build.js';
import { backends, postgresOnly, type BackendNode } from '../support/backends.js';
import { TestClient } from '../support/client.js';
import { createGroup } from '../../scripts/support/fixtures.js';
import { PG_BASE_URL } from '../support/services.js';
import { freshUsers } from './helpers.js';

const started: BackendNode[] = [];
afterEach(async () => {
  for (const t of started.splice(0)) await t.close();
});

/** The HTTP status and body of a refused upgrade. */
function upgradeRefusal(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

/** The clientMessageIds stored in the node's database, read after the node is closed. */
async function storedIds(t: BackendNode, conversationIds: string[]): Promise<Set<string>> {
  const db = openDb(t.config);
  try {
    const { rows } = await db.query<{ client_message_id: string }>(
      'SELECT client_message_id FROM messages WHERE conversation_id = ANY($1::bigint[])',
      [conversationIds],
    );
    return new Set(rows.map((r) => r.client_message_id));
  } finally {
    await db.close();
  }
}

for (const backend of await postgresOnly()) {
  describe(`gateway shutdown with a send in flight (${backend.name})`, () => {
    it('readiness goes 503 and upgrades are refused; the send in flight is stored and acknowledged, then 1001; a frame sent after is not taken', async () => {
      const t = await backend.start({ SHUTDOWN_TIMEOUT_MS: '10000' });
      started.push(t);
      const [a, b] = await freshUsers(t, 2);
      const conv = await createGroup(t.db, [a!, b!]);
      const client = await TestClient.open(t.ws);
      client.send('AUTHENTICATE', { token: await t.token(a!) });
      await client.next('INIT');

      const url = new URL(PG_BASE_URL);
      url.pathname = `/${t.databaseName}`;
      const admin = new pg.Client({ connectionString: url.toString() });
      await admin.connect();
      try {
        // Holds every insert into messages until ROLLBACK: the send below stays in flight.
        await admin.query('BEGIN');
        await admin.query('LOCK TABLE messages IN SHARE MODE');
        client.send('SEND_MESSAGE', { conversationId: conv, content: 'in flight', clientMessageId: 'in-flight', requestId: 'in-flight' });
        await vi.waitFor(
          async () => {
            const { rows } = await admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'messages'::regclass");
            expect(Number(rows[0]!.n)).toBeGreaterThan(0);
          },
          { timeout: 5000, interval: 20 },
        );

        const closing = t.node.close();
        const ready = await fetch(`${t.http}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ data: null, errors: expect.stringContaining('shutting down') });
        const refused = await upgradeRefusal(t.ws);
        expect(refused.status).toBe(503);
        expect(JSON.parse(refused.body)).toMatchObject({ data: null, errors: expect.any(String) });
        client.send('SEND_MESSAGE', { conversationId: conv, content: 'too late', clientMessageId: 'too-late', requestId: 'too-late' });

        await admin.query('ROLLBACK');
        const { code } = await client.closed;
        expect(code).toBe(1001);
        // The ack came before the close, and nothing answered the frame sent after the drain began.
        expect(client.frames.slice(1).map((f) => `${f.method}:${f.data.requestId}`)).toEqual(['MESSAGE_SENT:in-flight']);
        await closing;
      } finally {
        await admin.end();
      }
      expect([...(await storedIds(t, [conv]))]).toEqual(['in-flight']);
    }, 60_000);
  });
}

for (const backend of await backends()) {
  describe(`gateway shutdown under load (${backend.name})`, () => {
    it('every message stored by the time the node has closed was acknowledged to its sender', async () => {
      const t = await backend.start({ SHUTDOWN_TIMEOUT_MS: '10000', RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' });
      started.push(t);
      const users = await freshUsers(t, 8);
      const convs = [await createGroup(t.db, users.slice(0, 4)), await createGroup(t.db, users.slice(4))];
      const senders = await Promise.all(
        users.map(async (userId, i) => {
          const client = await TestClient.open(t.ws);
          client.send('AUTHENTICATE', { token: await t.token(userId) });
          await client.next('INIT');
          return { client, conv: convs[Math.floor(i / 4)]!, sent: 0, acked: new Set<string>() };
        }),
      );
      // Each sender keeps four sends in flight, as a pipelining client does, until its socket closes.
      const WINDOW = 4;
      const loops = senders.map(async (s, i) => {
        const send = () => {
          const id = `s${i}-${s.sent++}`;
          s.client.send('SEND_MESSAGE', { conversationId: s.conv, content: id, clientMessageId: id, requestId: id });
        };
        s.client.ws.on('message', (raw) => {
          const frame = JSON.parse(raw.toString());
          if (frame.method !== 'MESSAGE_SENT' || frame.data.requestId === undefined) return;
          s.acked.add(frame.data.requestId);
          if (s.client.ws.readyState === WebSocket.OPEN) send();
        });
        for (let k = 0; k < WINDOW; k++) send();
        return s.client.closed;
      });
      // Shut down in the middle of the traffic: once every sender has had some sends acknowledged.
      await vi.waitFor(() => expect(senders.every((s) => s.acked.size >= 5)).toBe(true), { timeout: 10_000, interval: 10 });
      await t.node.close();
      const closes = await Promise.all(loops);
      expect(closes.map((c) => c.code)).toEqual(senders.map(() => 1001));

      const stored = await storedIds(t, convs);
      const acked = new Set(senders.flatMap((s) => [...s.acked]));
      expect([...stored].filter((id) => !acked.has(id))).toEqual([]); // stored ⇒ acknowledged (the defect)
      expect([...acked].filter((id) => !stored.has(id))).toEqual([]); // acknowledged ⇒ stored (spec §2.3)
      // Sends were in flight at the close: some were never taken, so never stored.
      expect(senders.reduce((n, s) => n + s.sent, 0)).toBeGreaterThan(stored.size);
    }, 60_000);
  });
}
