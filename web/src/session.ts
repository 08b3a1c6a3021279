/**
 * Who is signed in on this tab, and their tokens. The choice is kept in sessionStorage: a reload
 * keeps the user signed in, while a second window starts at the sign-in screen, so two windows
 * can chat as two people.
 */
import type { Id } from 'massenger/client';
import { devToken } from './api.js';

export type SignIn =
  /** A demo user of the development sign-in: tokens come from `POST /dev/token`. */
  | { kind: 'dev'; userId: Id; username: string }
  /** A token from the main API, pasted in: it cannot be renewed. */
  | { kind: 'token'; token: string };

const KEY = 'massenger.signIn';
/** A token this close to its `exp` is not handed out any more. */
const EXPIRY_MARGIN_MS = 60_000;

export function savedSignIn(): SignIn | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as SignIn | null;
    return saved?.kind === 'dev' || saved?.kind === 'token' ? saved : null;
  } catch {
    return null;
  }
}

export function saveSignIn(signIn: SignIn): void {
  sessionStorage.setItem(KEY, JSON.stringify(signIn));
}

export function forgetSignIn(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * Hands out a valid token for the WebSocket client (its token function) and for HTTP calls
 * alike, fetching a new one only when the last is near its `exp`.
 */
export class Tokens {
  readonly #signIn: SignIn;
  #last: { token: string; expiresAt: number } | null = null;
  #fetching: Promise<string> | null = null;

  constructor(signIn: SignIn) {
    this.#signIn = signIn;
  }

  /** True when tokens can be renewed (the client may then reconnect after a 4401). */
  get renewable(): boolean {
    return this.#signIn.kind === 'dev';
  }

  async get(): Promise<string> {
    if (this.#signIn.kind === 'token') return this.#signIn.token;
    if (this.#last !== null && this.#last.expiresAt - Date.now() > EXPIRY_MARGIN_MS) return this.#last.token;
    const userId = this.#signIn.userId;
    this.#fetching ??= devToken(userId)
      .then((token) => {
        this.#last = { token, expiresAt: expiry(token) };
        return token;
      })
      .finally(() => (this.#fetching = null));
    return this.#fetching;
  }
}

/** A JWT's `exp` in ms (unverified: only the server can check it, and does); far future without one. */
function expiry(token: string): number {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : Number.MAX_SAFE_INTEGER;
  } catch {
    return 0;
  }
}
