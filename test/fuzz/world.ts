/**
 * The fuzzers' model of a node's data, kept up to date with what each request should have done:
 * who is a member of what, which messages exist and as what, which tokens sign in as whom; and the
 * rules of the contract on ids and content that the WebSocket and the HTTP oracles both apply.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';

/** Spec §2.3: content is 1 to 4000 characters; ids are positive PostgreSQL bigints. */
const MAX_CONTENT = 4000;
const MAX_ID = 2n ** 63n - 1n;

export interface Message {
  /** Null while the message was sent during the current case and its id is not known yet. */
  id: string | null;
  conversationId: string;
  author: string;
  content: string;
  clientMessageId: string | null;
  deleted: boolean;
}

/** The node's fixtures and what the fuzzing has stored so far. */
export class World {
  /** Members by conversation id. */
  readonly members = new Map<string, ReadonlySet<string>>();
  /** The private conversations of two friends: their members never change (spec §2.3). */
  readonly privates = new Set<string>();
  /** Users that exist (the main API's `users` rows). */
  readonly users = new Set<string>();
  /** Users with a signed-in connection open on the node. */
  readonly online = new Set<string>();
  readonly messages = new Map<string, Message>();
  /** Valid tokens and whose they are. */
  readonly tokens = new Map<string, string>();
  /** (author, clientMessageId) → the message it stored (spec §2.3: idempotent per author). */
  readonly sentWith = new Map<string, Message>();
  /** Messages sent in the current case, in order; `learn` gives them their ids. */
  pending: Message[] = [];

  constructor(readonly bystander: string) {}

  member(conversationId: string, userId: string): boolean {
    return this.members.get(conversationId)?.has(userId) ?? false;
  }

  /** Records a message whose id is known (fixtures, the bystander's own sends). */
  add(message: Message & { id: string }): void {
    this.messages.set(message.id, message);
    if (message.clientMessageId !== null) this.sentWith.set(`${message.author}\u0000${message.clientMessageId}`, message);
  }

  /** Gives the messages sent in this case the ids the server answered with, in order. */
  learn(ids: string[]): void {
    this.pending.forEach((m, i) => {
      const id = ids[i];
      if (id !== undefined) {
        m.id = id;
        this.messages.set(id, m);
      }
    });
    this.pending = [];
  }
}

/** A decimal id as docs/protocol.md has it: a safe positive JSON integer, or 1 to 19 digits naming a positive bigint. */
export function wireId(value: unknown): string | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? String(value) : null;
  if (typeof value !== 'string' || !/^[0-9]{1,19}$/.test(value)) return null;
  const n = BigInt(value);
  return n > 0n && n <= MAX_ID ? n.toString() : null;
}

export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Spec §2.3 content: 1 to 4000 characters, not only white space, storable as sent (no NUL, well-formed). */
export function contentOk(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const n = codePoints(value);
  return n >= 1 && n <= MAX_CONTENT && /\S/u.test(value) && !value.includes('\u0000') && value.isWellFormed();
}

/** The fields of a Message that a test can predict. */
export function messageView(m: Message, id: unknown = m.id ?? expect.any(String)): Record<string, unknown> {
  return { id, conversationId: m.conversationId, author: m.author, content: m.deleted ? '' : m.content, clientMessageId: m.clientMessageId, deleted: m.deleted };
}


/** Looks up a fixture by name (generators name fixtures; each fixture file maps names to ids). */
export function named(ids: Record<string, string>): (name: string) => string {
  return (name) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`no fixture named ${name}`);
    return id;
  };
}

const FENCE = `fence-${randomBytes(6).toString('hex')}-`;
let fences = 0;

/** A requestId for a fence PING (its PONG proves every earlier frame was handled). */
export function fenceId(): string {
  return `${FENCE}${++fences}`;
}

/** True for the requestId of a fence PING. */
export function isFenceId(requestId: unknown): boolean {
  return String(requestId).startsWith(FENCE);
}
