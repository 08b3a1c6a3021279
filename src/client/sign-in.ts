/**
 * The token side of a session: which token to connect with, when to refresh the live sign-in
 * (before `exp`, contract §2.3), and whether the server refused the last one (after a 4401 the
 * next connection needs a new token).
 */
import { fetchToken, refreshAt, tokenExpiry, type TokenSource } from './token.js';

export interface Token {
  token: string;
  /** `exp` in ms since the epoch; null when the token has none (it never expires). */
  expiresAt: number | null;
}

/** Least time between two refresh attempts, so a token source handing back old tokens is not spun on. */
const MIN_REFRESH_GAP_MS = 1000;

export class SignIn {
  readonly #source: TokenSource;
  readonly #leadMs: number;
  /** The token the server last accepted (or, before that, the fixed one). */
  #current: Token | null = null;
  #refused = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(source: TokenSource, refreshBeforeExpMs: number) {
    this.#source = source;
    this.#leadMs = refreshBeforeExpMs;
    // A fixed token that is not a JWT could never sign in: say so now, not at the first connect.
    if (typeof source === 'string') this.#current = { token: source, expiresAt: tokenExpiry(source) };
  }

  /** True when the source is a function, so a refused or expiring token can be replaced. */
  get renewable(): boolean {
    return typeof this.#source !== 'string';
  }

  /** The server refused the token or ended its sign-in: the next connection needs a new one. */
  refused(): void {
    this.#refused = true;
  }

  /** The server signed in with this token (an INIT answered it). */
  accepted(token: Token): void {
    this.#current = token;
    this.#refused = false;
  }

  /** The token to connect with: the current one while it is good for a while yet, else a fresh one. */
  async forConnect(): Promise<Token> {
    const current = this.#current;
    if (current !== null && (!this.renewable || (!this.#refused && (current.expiresAt === null || current.expiresAt - Date.now() > this.#leadMs)))) {
      return current;
    }
    return this.#fetch();
  }

  /** A token for refreshing the live sign-in, or null when the source gave one ending no later. */
  async forRefresh(): Promise<Token | null> {
    const next = await this.#fetch();
    const now = this.#current?.expiresAt ?? null;
    // The server never shortens a sign-in, so such a token would change nothing.
    return next.expiresAt !== null && now !== null && next.expiresAt <= now ? null : next;
  }

  /** Calls `refresh` in good time before the current token's exp (never for a fixed token). */
  schedule(refresh: () => void): void {
    this.cancel();
    const exp = this.#current?.expiresAt ?? null;
    const now = Date.now();
    if (exp === null || exp <= now || !this.renewable) return;
    const at = Math.max(refreshAt(exp, now, this.#leadMs), now + Math.min(MIN_REFRESH_GAP_MS, (exp - now) / 2));
    this.#timer = setTimeout(refresh, at - now);
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #fetch(): Promise<Token> {
    const token = await fetchToken(this.#source);
    return { token, expiresAt: tokenExpiry(token) };
  }
}
