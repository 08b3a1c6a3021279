/**
 * Who is calling: a user with the main API's JWT on public routes, or the main API itself on the
 * private route (a bearer INTERNAL_API_TOKEN, or loopback only when none is configured).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { TokenVerifier } from '../auth/jwt.js';
import { AppError } from '../errors.js';

/** The token of an `Authorization: Bearer <token>` header, or null without one. */
export function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** The user id of a public request; 401 without a valid token (spec §3). */
export async function callerId(request: FastifyRequest, verifier: TokenVerifier): Promise<string> {
  const token = bearer(request);
  if (token === null) throw new AppError('UNAUTHENTICATED', 'Authorization: Bearer <token> is required');
  return (await verifier.verify(token)).userId;
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Admits the main API to the private route, or throws 401/403. */
export function checkInternal(request: FastifyRequest, internalApiToken: string | null): void {
  if (internalApiToken === null) {
    if (!isLoopback(request.socket.remoteAddress)) {
      throw new AppError('FORBIDDEN', 'the private API accepts loopback requests only (INTERNAL_API_TOKEN is not set)');
    }
    return;
  }
  if (!sameSecret(bearer(request), internalApiToken)) {
    throw new AppError('UNAUTHENTICATED', 'Authorization: Bearer <INTERNAL_API_TOKEN> is required');
  }
}

/**
 * Whether `given` is the configured secret, in time that depends on neither: both are hashed to
 * equal-length SHA-256 digests first, so timingSafeEqual neither throws on a length mismatch nor
 * lets the timing reveal the secret's length or a matching prefix.
 */
export function sameSecret(given: string | null, secret: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  const match = timingSafeEqual(digest(given ?? ''), digest(secret));
  return given !== null && match;
}
