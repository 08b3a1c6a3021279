/**
 * Connection caps (issue 7): MAX_CONNECTIONS per node, refused at upgrade with HTTP 503 and the
 * {data, errors} envelope; MAX_CONNECTIONS_PER_USER, refused with ERROR RATE_LIMITED then 4429;
 * a connection that never signs in holds its place only until AUTH_TIMEOUT_MS.
 */
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { backends, type BackendNode } from '../support/backends.js';
import { befriend } from '../../scripts/support/fixtures.js';
import { openConnections } from '../support/metrics.js';
import { closedWithin, expectAlive, freshUsers, nodeForSuite, received, waitFor } from './helpers.js';

const MAX_CONNECTIONS = 4;
const MAX_CONNECTIONS_PER_USER = 2;
const AUTH_TIMEOUT_MS = 500;

/** The HTTP status and body of a refused upgrade. */
function upgradeRefusal(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.once('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

for (const backend of await backends()) {
  describe(`gateway connection caps (${backend.name})`, () => {
    const { clients, node } = nodeForSuite(backend, {
      MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      MAX_CONNECTIONS_PER_USER: String(MAX_CONNECTIONS_PER_USER),
      AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
    });
    let t: BackendNode;
    beforeAll(() => {
      t = node();
    });
    // Each test starts from an empty node: the connections of the one before are gone.
    beforeEach(async () => {
      await vi.waitFor(async () => expect(await openConnections(t.http)).toBe(0), { timeout: 5000, interval: 20 });
    });

    it('refuses the upgrade past MAX_CONNECTIONS with 503 and the envelope; connections that never sign in are let go at AUTH_TIMEOUT_MS', async () => {
      const idle = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => clients.open()));
      const started = Date.now();
      const refused = await upgradeRefusal(t.ws);
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toEqual({ data: null, errors: expect.stringContaining('connections') });
      const closes = await Promise.all(idle.map((c) => closedWithin(c, AUTH_TIMEOUT_MS + 3000)));
      expect(closes.map((c) => c.code)).toEqual(idle.map(() => 4401));
      expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 100);
      // Their places are free again.
      await vi.waitFor(async () => expect(await openConnections(t.http)).toBe(0), { timeout: 5000, interval: 20 });
      const [me] = await freshUsers(t, 1);
      await expectAlive(await clients.online(me!));
    });

    it('answers a sign-in past MAX_CONNECTIONS_PER_USER with ERROR RATE_LIMITED, then 4429; the user\'s other devices and friends are unaffected', async () => {
      const [me, friend] = await freshUsers(t, 2);
      await befriend(t.db, me!, friend!);
      const watcher = await clients.online(friend!);
      const devices = [await clients.online(me!), await clients.online(me!)];
      await waitFor(watcher, 'USER_JOINED', (d) => d.userId === me);

      const extra = await clients.open();
      extra.send('AUTHENTICATE', { token: await t.token(me!), requestId: 'third' });
      expect((await closedWithin(extra)).code).toBe(4429);
      expect(extra.frames).toEqual([
        { method: 'ERROR', data: expect.objectContaining({ code: 'RATE_LIMITED', method: 'AUTHENTICATE', requestId: 'third' }) },
      ]);
      for (const d of devices) await expectAlive(d);
      await expectAlive(watcher);

      // A slot given back is free again: one device leaves, another signs in.
      devices[0]!.close();
      await closedWithin(devices[0]!);
      await vi.waitFor(async () => expect(await openConnections(t.http)).toBe(2), { timeout: 5000, interval: 20 });
      await expectAlive(await clients.online(me!));
      // The friend heard of the user once, and never that they left: a device was always online.
      await expectAlive(watcher);
      expect(received(watcher, 'USER_JOINED', (d) => d.userId === me)).toHaveLength(1);
      expect(received(watcher, 'USER_LEFT')).toHaveLength(0);
    });
  });
}
