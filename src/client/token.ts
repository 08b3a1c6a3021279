/**
 * Where sign-in tokens come from, and when each one ends. The client reads a JWT's `exp` without
 * verifying it (only the server can, and does): it needs the time only to refresh in good time.
 */

/** A fixed token, or a function that returns a fresh one (it may be async). */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * The `exp` claim of a JWT in ms since the epoch, or null when the token has none. Throws a
 * TypeError naming the problem when `token` is not a JWT, since no server would accept it either.
 */
export function tokenExpiry(token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined || parts[1] === '') {
    throw new TypeError('token must be a JWT (three dot-separated parts)');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new TypeError('token payload is not base64url-encoded JSON');
  }
  if (typeof payload !== 'object' || payload === null) throw new TypeError('token payload is not a JSON object');
  const exp = (payload as { exp?: unknown }).exp;
  if (exp === undefined) return null;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TypeError('token exp must be a number of seconds');
  return exp * 1000;
}

/** base64url → UTF-8 text with the platform's atob and TextDecoder (browsers, Node 16+). */
function base64UrlDecode(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** Calls the source (when it is a function) and checks what it returned. */
export async function fetchToken(source: TokenSource): Promise<string> {
  const token = typeof source === 'string' ? source : await source();
  if (typeof token !== 'string' || token === '') throw new TypeError('the token source must return a non-empty string');
  return token;
}

/**
 * When to refresh a sign-in ending at `expiresAt`: `leadMs` before it, but never later than
 * half-way through what is left, so a short-lived token is still refreshed in time.
 */
export function refreshAt(expiresAt: number, now: number, leadMs: number): number {
  const left = expiresAt - now;
  return now + Math.max(0, left - Math.min(leadMs, left / 2));
}
