/**
 * The caller of a public route (spec §3: 401 without a valid token, whatever the body or query).
 * The token is checked in onRequest, before Fastify parses and validates, so a stranger never
 * sees a 400 instead of the 401.
 */
import type { FastifyRequest } from 'fastify';
import type { TokenVerifier } from '../../auth/jwt.js';
import { AppError } from '../../errors.js';
import { callerId } from '../auth.js';

export function signedIn(verifier: TokenVerifier): {
  /** onRequest hook: verifies the bearer token. */
  authenticate: (request: FastifyRequest) => Promise<void>;
  /** The verified caller's user id. */
  caller: (request: FastifyRequest) => string;
} {
  const callers = new WeakMap<FastifyRequest, string>();
  return {
    authenticate: async (request) => {
      callers.set(request, await callerId(request, verifier));
    },
    caller: (request) => {
      const userId = callers.get(request);
      if (userId === undefined) throw new AppError('UNAUTHENTICATED', 'Authorization: Bearer <token> is required');
      return userId;
    },
  };
}

/** Path ids: any run of digits, so one past bigint gets the stranger's 404 rather than a 400 (spec §2.3). */
export const PATH_ID = { type: 'string', pattern: '^[0-9]{1,64}$' } as const;
