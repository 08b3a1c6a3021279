/**
 * The error registry (spec §2.4): exactly the nine codes, each with its HTTP status, and every
 * code and close code documented in README.md for client authors.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as closeCodes from '../src/protocol/close-codes.js';
import { AppError, errorCodes, httpStatus, toAppError } from '../src/errors.js';

const SPEC_CODES = ['BAD_FRAME', 'UNKNOWN_METHOD', 'INVALID_DATA', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL'];
const SPEC_CLOSE_CODES = [4401, 1009, 4408, 4429, 1001];

describe('the error registry', () => {
  it('holds exactly the 9 codes of spec §2.4', () => {
    expect([...errorCodes].sort()).toEqual([...SPEC_CODES].sort());
  });

  it('maps each code to its HTTP status', () => {
    expect(httpStatus).toEqual({
      BAD_FRAME: 400,
      UNKNOWN_METHOD: 400,
      INVALID_DATA: 400,
      UNAUTHENTICATED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404, // spec §2.3: a stranger and an unknown conversation get the same 404
      RATE_LIMITED: 429,
      UNAVAILABLE: 503,
      INTERNAL: 500,
    });
  });

  it('turns anything that is not an AppError into INTERNAL, keeping the cause', () => {
    const cause = new Error('connection reset');
    const err = toAppError(cause);
    expect(err).toMatchObject({ code: 'INTERNAL', message: 'internal error', cause });
    const known = new AppError('NOT_FOUND', 'conversation not found');
    expect(toAppError(known)).toBe(known);
  });

  it('has exactly the close codes of spec §2.4', () => {
    expect(Object.values(closeCodes).sort()).toEqual([...SPEC_CLOSE_CODES].sort());
  });
});

describe('README.md', () => {
  const readme = (() => {
    try {
      return readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    } catch {
      return '';
    }
  })();

  it('exists', () => {
    expect(readme.length).toBeGreaterThan(0);
  });

  it.each(SPEC_CODES)('documents error code %s', (code) => {
    expect(readme).toMatch(new RegExp(`\\b${code}\\b`));
  });

  it.each(Object.entries(closeCodes))('documents close code %s (%i)', (_name, code) => {
    expect(readme).toMatch(new RegExp(`\\b${code}\\b`));
  });
});
