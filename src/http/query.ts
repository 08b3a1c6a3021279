/**
 * Query-string numbers (spec §3 paging). A query value arrives as text; Ajv's number coercion
 * would read "Infinity", "1e400" or "0x10" as numbers and let infinities reach the database
 * (issue 7, defect 3). So a number in a query is declared `{type: 'string'}` in the route's
 * schema (a repeated `?limit=1&limit=2` arrives as an array and fails that) and read here into a
 * finite integer within its bounds, or refused with INVALID_DATA (400).
 */
import { AppError } from '../errors.js';

/** At most this many digits, so Number() reads the value exactly. */
const MAX_DIGITS = 9;

/**
 * A `limit` from the query: `fallback` when absent, else a whole number of decimal digits from 1
 * to `max`, else an INVALID_DATA naming the field and its range.
 */
export function queryLimit(value: string | undefined, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = value.length <= MAX_DIGITS && /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new AppError('INVALID_DATA', `${field} must be a whole number from 1 to ${max}`);
  }
  return n;
}
