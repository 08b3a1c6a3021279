/**
 * Who is online, and telling friends (spec §2.3 presence). A user is online while at least one
 * authenticated connection of theirs is open on any node: the hub counts this node's connections,
 * the Presence port answers for the cluster, and friends hear USER_JOINED on the first connection
 * and USER_LEFT after the last one.
 */
import { encode } from '../protocol/codec.js';
import type { Bus } from '../bus/bus.js';
import type { Presence } from '../presence/presence.js';
import type { Store } from '../store/store.js';
import type { Hub, Peer } from './hub.js';
import { BatchLoader } from './batch-loader.js';
import type { Log } from './log.js';
import { SerialQueue } from './serial.js';
import type { SignInReads } from './sign-in-reads.js';

export class Roster {
  readonly #hub: Hub;
  readonly #presence: Presence;
  /** Last visits written in batches: a node's restart signs thousands out at once. */
  readonly #lastVisits: BatchLoader<string, never>;
  readonly #reads: Pick<SignInReads, 'friends'>;
  readonly #bus: Pick<Bus, 'publish'>;
  readonly #log: Log;
  /** Transitions of one user run in turn, so a quick connect-then-close cannot reorder JOINED and LEFT. */
  readonly #transitions = new SerialQueue();
  /** Users this node has registered with Presence; only these are ever removed from it. */
  readonly #registered = new Set<string>();

  constructor(deps: {
    hub: Hub;
    presence: Presence;
    store: Pick<Store, 'setLastVisit'>;
    /** Friends to tell, read in batches across sign-ins and sign-outs. */
    reads: Pick<SignInReads, 'friends'>;
    bus: Pick<Bus, 'publish'>;
    log: Log;
  }) {
    this.#hub = deps.hub;
    this.#presence = deps.presence;
    this.#lastVisits = new BatchLoader(async (userIds) => {
      await deps.store.setLastVisit(userIds, new Date());
      return new Map<string, never>();
    });
    this.#reads = deps.reads;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#presence.onLost((userIds) => {
      for (const userId of userIds) void this.#transitions.run(userId, () => this.#wentOffline(userId));
    });
    this.#presence.onFound((userIds) => {
      for (const userId of userIds) void this.#transitions.run(userId, () => this.#announceJoined(userId));
    });
  }

  /**
   * Registers an authenticated connection; the user's friends hear of it if they were offline
   * everywhere. Resolves once Presence knows this node holds the user: from then on every node
   * routes the user's events here (the bus routes by presence), so a reader that starts after it
   * misses nothing. Friends are told in the background.
   */
  connect(userId: string, peer: Peer): Promise<void> {
    if (!this.#hub.attach(userId, peer)) return this.#transitions.run(userId, async () => {});
    let registered!: () => void;
    const ready = new Promise<void>((resolve) => (registered = resolve));
    void this.#transitions.run(userId, async () => {
      try {
        // Checked inside the queue: the connection may already have closed again.
        if (!this.#hub.holds(userId) || this.#registered.has(userId)) return;
        this.#registered.add(userId);
        const cameOnline = await this.#presence.add(userId);
        registered();
        if (cameOnline) await this.#announceJoined(userId);
      } finally {
        registered();
      }
    });
    return ready;
  }

  /** Forgets a closed connection; after the user's last one anywhere, friends hear USER_LEFT. */
  disconnect(userId: string, peer: Peer): Promise<void> {
    if (!this.#hub.detach(userId, peer)) return Promise.resolve();
    return this.#transitions.run(userId, async () => {
      if (this.#hub.holds(userId) || !this.#registered.delete(userId)) return;
      if (await this.#presence.remove(userId)) await this.#wentOffline(userId);
    });
  }

  /** Resolves when every pending transition has been told; for shutdown. */
  idle(): Promise<void> {
    return this.#transitions.idle();
  }

  async #announceJoined(userId: string): Promise<void> {
    try {
      const friends = await this.#reads.friends(userId);
      const online = await this.#presence.online(friends.map((f) => f.userId));
      // Each friend's copy names the private conversation of the pair, so each is its own frame.
      const publishes = friends
        .filter((f) => online.has(f.userId))
        .map((f) =>
          this.#bus.publish({
            type: 'deliver',
            userIds: [f.userId],
            method: 'USER_JOINED',
            text: encode({ method: 'USER_JOINED', data: { id: userId, userId, conversationId: f.conversationId } }),
          }),
        );
      await Promise.all(publishes);
    } catch (err) {
      this.#log.warn({ err, userId }, 'could not tell friends that a user came online');
    }
  }

  async #wentOffline(userId: string): Promise<void> {
    try {
      await this.#lastVisits.load(userId);
      const friends = await this.#reads.friends(userId);
      const online = await this.#presence.online([userId, ...friends.map((f) => f.userId)]);
      // Back on another node meanwhile: its USER_JOINED may already be out, and must stay the last word.
      if (online.has(userId) || online.size === 0) return;
      await this.#bus.publish({
        type: 'deliver',
        userIds: [...online],
        method: 'USER_LEFT',
        text: encode({ method: 'USER_LEFT', data: { userId } }),
      });
    } catch (err) {
      this.#log.warn({ err, userId }, 'could not tell friends that a user went offline');
    }
  }
}
