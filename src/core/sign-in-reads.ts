/**
 * What every sign-in reads (its INIT's conversations, and the friends that hear USER_JOINED and
 * appear in INIT) and every last sign-out reads again (the friends that hear USER_LEFT): at a
 * connection storm thousands ask at once, so the asks that arrive while reads are in flight become
 * one read for all of them (batch-loader.ts).
 */
import type { ConversationRow, Friend, Store } from '../store/store.js';
import { BatchLoader } from './batch-loader.js';

/** Spec §2.2: INIT lists the 10 conversations with the latest activity. */
const INIT_CONVERSATIONS = 10;

export class SignInReads {
  readonly #friends: BatchLoader<string, Friend[]>;
  readonly #conversations: BatchLoader<string, ConversationRow[]>;

  constructor(store: Pick<Store, 'friends' | 'conversationsOf'>) {
    this.#friends = new BatchLoader((ids) => store.friends(ids));
    this.#conversations = new BatchLoader((ids) => store.conversationsOf(ids, INIT_CONVERSATIONS));
  }

  /** The user's friends, with the private conversation of each pair. */
  async friends(userId: string): Promise<Friend[]> {
    return (await this.#friends.load(userId)) ?? [];
  }

  /** The user's INIT_CONVERSATIONS conversations with the latest activity, newest first. */
  async initConversations(userId: string): Promise<ConversationRow[]> {
    return (await this.#conversations.load(userId)) ?? [];
  }
}
