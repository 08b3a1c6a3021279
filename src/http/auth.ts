/**
 * Who is calling: a user with the main API's JWT on public routes, or the main API itself on the
 * private route (a bearer INTERNAL_API_TOKEN, or loopback only when none is configured).
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { TokenVerifier } from '../auth/jwt.js';
import { AppError } from '../errors.js';

function bearer(request: FastifyRequest): string | null {
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
  const token = bearer(request);
  const given = Buffer.from(token ?? '');
  const expected = Buffer.from(internalApiToken);
  // Constant-time comparison, so the token cannot be guessed byte by byte from timings.
  if (token === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AppError('UNAUTHENTICATED', 'Authorization: Bearer <INTERNAL_API_TOKEN> is required');
  }
}
