/**
 * Spec §2.3: from the moment a user left a conversation, on every node, they receive nothing more
 * of it. A leave is published as MEMBERS_CHANGED before it is acknowledged, and every node that
 * holds a member (so every node that could send for the conversation or hold the leaver) receives
 * it in its bus stream. On receiving it a node, synchronously:
 * - drops its cached member list (the next message, typing or read there asks the database), and
 * - remembers the departure, and from then on takes the leaver out of that conversation's events.
 * The second part is for events whose member list was read before the leave and that are still
 * on their way (a message being stored, a list another node had cached): on this node they arrive
 * after the MEMBERS_CHANGED, since the bus keeps a node's stream in publish order, and are
 * filtered. A departure is remembered as long as a member list read before it may live
 * (MEMBERS_CACHE_TTL_MS), and forgotten at once when the user is added again.
 */
import type { BusEvent } from '../bus/bus.js';
import type { ServerMethod } from '../protocol/frames.js';
import type { MembersCache } from './members.js';

type Published = Exclude<BusEvent, { type: 'notification' }>;

/** At least this long, even with the members cache off: a send in flight holds its list that long. */
const MIN_MEMORY_MS = 10_000;
/** Most departures remembered; beyond, the oldest are forgotten first. */
const MAX_DEPARTURES = 100_000;

/** Frames about one conversation, and where their conversation id is. */
const BY_CONVERSATION: ReadonlySet<ServerMethod> = new Set<ServerMethod>(['TYPING', 'CONVERSATION_SEEN', 'INVITATION_SENT', 'MEMBERS_CHANGED']);
const BY_MESSAGE: ReadonlySet<ServerMethod> = new Set<ServerMethod>(['MESSAGE_SENT', 'MESSAGE_EDITED', 'MESSAGE_DELETED']);

interface Departure {
  userId: string;
  conversationId: string;
  expiresAt: number;
}

export class Departures {
  /** By `<conversationId>:<userId>`, in insertion order, which is expiry order. */
  readonly #departures = new Map<string, Departure>();
  /** Departures per user: the fast path asks only "does any recipient have one?". */
  readonly #perUser = new Map<string, number>();
  /** Who left each conversation, for the database's change announcements. */
  readonly #perConversation = new Map<string, Set<string>>();
  readonly #members: Pick<MembersCache, 'get' | 'invalidate'>;
  readonly #memoryMs: number;
  readonly #now: () => number;

  constructor(opts: { members: Pick<MembersCache, 'get' | 'invalidate'>; staleListMs: number; now?: () => number }) {
    this.#members = opts.members;
    this.#memoryMs = Math.max(opts.staleListMs, MIN_MEMORY_MS);
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The event as this node must deliver it: without the users who left its conversation, or null
   * when nobody is left. A MEMBERS_CHANGED also updates what this node knows; its own text reaches
   * the users it removes (spec §2.3: the one who left gets it too), and nothing after it does.
   */
  admit(event: Published): Published | null {
    if (event.type === 'deliver' && event.method === 'MEMBERS_CHANGED') return this.#membersChanged(event);
    if (this.#perUser.size === 0 || !event.userIds.some((id) => this.#perUser.has(id))) return event;
    const conversationId = event.type === 'message' ? event.conversationId : conversationOf(event.method, event.text);
    return conversationId === null ? event : this.#without(event, conversationId);
  }

  /**
   * The database announced a change of this conversation's members (whoever made it, the main API
   * included): a user who left and is back is forgotten, so they receive again at once.
   */
  changed(conversationId: string): void {
    const left = this.#perConversation.get(conversationId);
    if (left === undefined) return;
    const users = [...left];
    // Read after the announcement, so the list holds that change (and the leave, which came before).
    this.#members.get(conversationId).then(
      (members) => {
        for (const userId of users) if (members.includes(userId)) this.#forget(conversationId, userId);
      },
      () => {},
    );
  }

  /** How many departures are remembered; for tests. */
  get size(): number {
    return this.#departures.size;
  }

  #membersChanged(event: Extract<Published, { type: 'deliver' }>): Published | null {
    const change = parseMembersChanged(event.text);
    if (change === null) return event;
    this.#members.invalidate(change.conversationId);
    // Those this change names are members at its moment, whatever was remembered before.
    for (const userId of [...change.added, ...change.removed]) this.#forget(change.conversationId, userId);
    const admitted = this.#without(event, change.conversationId);
    for (const userId of change.removed) this.#remember(change.conversationId, userId);
    return admitted;
  }

  #without(event: Published, conversationId: string): Published | null {
    const userIds = event.userIds.filter((id) => !this.#left(conversationId, id));
    if (userIds.length === event.userIds.length) return event;
    return userIds.length === 0 ? null : { ...event, userIds };
  }

  #left(conversationId: string, userId: string): boolean {
    if (!this.#perUser.has(userId)) return false;
    const departure = this.#departures.get(`${conversationId}:${userId}`);
    if (departure === undefined) return false;
    if (departure.expiresAt > this.#now()) return true;
    this.#forget(conversationId, userId);
    return false;
  }

  #remember(conversationId: string, userId: string): void {
    this.#prune();
    const key = `${conversationId}:${userId}`;
    if (!this.#departures.has(key)) {
      this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1);
      const left = this.#perConversation.get(conversationId) ?? new Set<string>();
      this.#perConversation.set(conversationId, left.add(userId));
    }
    this.#departures.delete(key);
    this.#departures.set(key, { userId, conversationId, expiresAt: this.#now() + this.#memoryMs });
  }

  #forget(conversationId: string, userId: string): void {
    if (!this.#departures.delete(`${conversationId}:${userId}`)) return;
    const count = (this.#perUser.get(userId) ?? 1) - 1;
    if (count === 0) this.#perUser.delete(userId);
    else this.#perUser.set(userId, count);
    const left = this.#perConversation.get(conversationId);
    left?.delete(userId);
    if (left?.size === 0) this.#perConversation.delete(conversationId);
  }

  #prune(): void {
    const now = this.#now();
    for (const d of this.#departures.values()) {
      if (d.expiresAt > now && this.#departures.size < MAX_DEPARTURES) return;
      this.#forget(d.conversationId, d.userId);
    }
  }
}

/**
 * The conversation of an encoded frame, or null when it is about none. Parsed only when a
 * recipient has a departure remembered, which is rare; everything else is never parsed (style §7).
 */
function conversationOf(method: ServerMethod, text: string): string | null {
  if (!BY_CONVERSATION.has(method) && !BY_MESSAGE.has(method)) return null;
  const data = parseData(text);
  const holder = BY_MESSAGE.has(method) ? data?.message : data;
  const id = (holder as Record<string, unknown> | null | undefined)?.conversationId;
  return typeof id === 'string' ? id : null;
}

function parseMembersChanged(text: string): { conversationId: string; added: string[]; removed: string[] } | null {
  const data = parseData(text);
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (data === null || typeof data.conversationId !== 'string' || !strings(data.added) || !strings(data.removed)) return null;
  return { conversationId: data.conversationId, added: data.added, removed: data.removed };
}

function parseData(text: string): Record<string, unknown> | null {
  try {
    const frame = JSON.parse(text) as { data?: unknown } | null;
    const data = frame?.data;
    return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
