/**
 * The Presence contract (style §13): what every implementation answers on one node. Leases,
 * several nodes and outages are tested in presence/redis.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Presence } from '../../src/presence/presence.js';

export interface PresenceFixture {
  presence: Presence;
  /** Closes the presence and everything the fixture opened. */
  close(): Promise<void>;
}

const userId = () => `u-${randomUUID()}`;

export function presenceContract(name: string, makePresence: () => Promise<PresenceFixture>): void {
  describe(`Presence contract: ${name}`, () => {
    let f: PresenceFixture | null = null;
    const open = async () => (f = await makePresence());
    afterEach(async () => {
      await f?.close();
      f = null;
    });

    it('add is true for a new user and false when this node already holds them', async () => {
      const { presence } = await open();
      const u = userId();
      expect(await presence.add(u)).toBe(true);
      expect(await presence.add(u)).toBe(false);
    });

    it('remove is true when nobody holds the user any more, known or not', async () => {
      const { presence } = await open();
      const u = userId();
      await presence.add(u);
      expect(await presence.remove(u)).toBe(true);
      expect(await presence.remove(userId())).toBe(true);
      expect(await presence.add(u)).toBe(true);
    });

    it('online answers the subset that is online, for hundreds of ids', async () => {
      const { presence } = await open();
      const ids = Array.from({ length: 300 }, userId);
      const on = ids.filter((_, i) => i % 3 === 0);
      for (const id of on) await presence.add(id);
      await presence.remove(on[0] as string);
      expect(await presence.online(ids)).toEqual(new Set(on.slice(1)));
      expect(await presence.online([])).toEqual(new Set());
    });

    it('accepts onLost and onFound listeners and closes twice without error', async () => {
      const { presence } = await open();
      presence.onLost(() => {});
      presence.onFound(() => {});
      await presence.add(userId());
      await presence.close();
      await presence.close();
    });
  });
}
