/**
 * A connection's sign-in (spec §2.3, §2.4): who it is, until when, and the deadline for the first
 * AUTHENTICATE. Its deadlines live on the gateway's shared clock (deadlines.ts), so a session that
 * ends leaves no timer behind.
 *
 *   awaiting-auth ──signIn──▶ authenticated ──signIn (same user)──▶ authenticated (exp extended)
 *        ▲                         │
 *        └─────────signOut─────────┘   (the first INIT could not be built)
 *   awaiting-auth ──signIn, no slot left──▶ refused (MAX_CONNECTIONS_PER_USER)
 *   any ──end──▶ ended
 */
import { AppError } from '../errors.js';
import type { Deadline, Deadlines } from './deadlines.js';
import type { UserSlots } from './user-slots.js';

type SessionState = 'awaiting-auth' | 'authenticated' | 'refused' | 'ended';

/** What every session of a gateway shares (one object for all connections). */
export interface SessionContext {
  clock: Deadlines;
  slots: UserSlots;
  limits: { authTimeoutMs: number };
}

/** The connection a session belongs to, told when its sign-in ends by itself. */
export interface SessionOwner {
  /** No successful AUTHENTICATE in time: the connection ends (4401). */
  authTimedOut(message: string): void;
  /** The token's exp passed without a refresh: the connection ends (4401). */
  signInExpired(): void;
}

export class Session {
  readonly #c: SessionContext;
  readonly #owner: SessionOwner;
  #state: SessionState = 'awaiting-auth';
  #userId: string | null = null;
  /** When the sign-in ends (its `at`, epoch ms); null for never. */
  #expiry: Deadline | null = null;
  /** Kept past a first signIn until its INIT went out: if that INIT fails after the deadline, there is no second chance. */
  #authDeadline: Deadline | null;
  #authDeadlinePassed = false;

  constructor(context: SessionContext, owner: SessionOwner) {
    this.#c = context;
    this.#owner = owner;
    this.#authDeadline = context.clock.schedule(Date.now() + context.limits.authTimeoutMs, Session.#authDeadlineFired, this);
  }

  // The deadlines' callbacks: one function each for every session, called with the session.
  static #authDeadlineFired(session: Session): void {
    session.#authDeadline = null;
    session.#authDeadlinePassed = true;
    if (session.#state === 'awaiting-auth') session.#owner.authTimedOut(`no AUTHENTICATE within ${session.#c.limits.authTimeoutMs} ms`);
  }

  static #expiryFired(session: Session): void {
    session.#expiry = null;
    // Spec §2.3: a sign-in lasts until the token's exp unless AUTHENTICATE refreshed it.
    if (session.#state === 'authenticated') session.#owner.signInExpired();
  }

  get state(): SessionState {
    return this.#state;
  }

  get userId(): string | null {
    return this.#userId;
  }

  /**
   * Starts or extends the sign-in. A refresh extends it (spec §2.3): a token that expires sooner
   * never shortens it. Throws RATE_LIMITED when the user has no connection slot left on this node,
   * and UNAUTHENTICATED once the connection is closing.
   */
  signIn(userId: string, expiresAt: number | null): void {
    // Thrown, not ignored: the core must not register a session that can never be reported gone.
    if (this.#state === 'ended' || this.#state === 'refused') throw new AppError('UNAUTHENTICATED', 'this connection is closing');
    if (this.#state === 'authenticated') {
      if (this.#expiry === null || (expiresAt !== null && expiresAt < this.#expiry.at)) return;
      this.#armExpiry(expiresAt);
      return;
    }
    if (!this.#c.slots.take(userId)) {
      this.#state = 'refused';
      throw new AppError('RATE_LIMITED', 'this user has too many connections on this server; close one first');
    }
    this.#state = 'authenticated';
    this.#userId = userId;
    this.#armExpiry(expiresAt);
  }

  /** The first sign-in's INIT went out: the session has started, and the sign-in deadline is met. */
  started(): void {
    if (this.#state === 'authenticated') this.#authDeadline = this.#c.clock.cancel(this.#authDeadline);
  }

  /** Undoes a first signIn whose INIT could not be built; the client may try again, within the deadline. */
  signOut(): void {
    if (this.#state !== 'authenticated') return;
    this.#c.slots.give(this.#userId as string);
    this.#state = 'awaiting-auth';
    this.#userId = null;
    this.#armExpiry(null);
    // The first AUTHENTICATE outlived the deadline and then failed: no second chance.
    if (this.#authDeadlinePassed) this.#owner.authTimedOut(`no successful AUTHENTICATE within ${this.#c.limits.authTimeoutMs} ms`);
  }

  /** The connection is closing or gone: its deadlines and its slot are given back. */
  end(): void {
    if (this.#state === 'ended') return;
    if (this.#state === 'authenticated') this.#c.slots.give(this.#userId as string);
    this.#state = 'ended';
    this.#expiry = this.#c.clock.cancel(this.#expiry);
    this.#authDeadline = this.#c.clock.cancel(this.#authDeadline);
  }

  #armExpiry(expiresAt: number | null): void {
    this.#expiry = this.#c.clock.cancel(this.#expiry);
    if (expiresAt !== null) this.#expiry = this.#c.clock.schedule(expiresAt, Session.#expiryFired, this);
  }
}
