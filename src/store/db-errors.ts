/**
 * What a driver error means for the caller, for PostgreSQL (pg) and PGlite alike: SqlStore maps
 * every error through translate() so the core only ever sees an AppError (style §6).
 */
import { AppError } from '../errors.js';

/** Node socket errors that mean the server cannot be reached. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** pg and PGlite report a lost or closed connection only in the message. */
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end|Client was closed|Client has encountered a connection error|Query read timeout|not currently accepting connections|PGlite is closed/i;

function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof AggregateError && err.errors.some(isUnavailable)) return true; // one per address tried
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // SQLSTATE 08: connection exception; 53: out of resources (too many connections);
    // 57P01-57P03: terminated, crashed, starting up; 57014: statement_timeout (rolled back).
    if (/^(08|53|57P0)/.test(code) || code === '57014') return true;
  }
  return UNAVAILABLE_MESSAGES.test(err.message);
}

/** Unreachable, dropped or timed out → UNAVAILABLE; text PostgreSQL cannot hold → INVALID_DATA; else INTERNAL. */
export function translate(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // PostgreSQL text cannot hold U+0000 (22021) or characters the encoding lacks (22P05): the
  // sender's content is the problem, not the database.
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '22021' || code === '22P05') return new AppError('INVALID_DATA', 'text cannot be stored', { cause: err });
  if (isUnavailable(err)) return new AppError('UNAVAILABLE', 'database unavailable', { cause: err });
  return new AppError('INTERNAL', 'database error', { cause: err });
}
