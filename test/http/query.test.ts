/**
 * Query parameters of the public routes (spec §3): each is read into a finite, bounded value or
 * refused with a 400 envelope; none reaches the database as something it rejects (a 500).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { queryLimit } from '../../src/http/query.js';
import { createUser } from '../../scripts/support/fixtures.js';
import type { TestNode } from '../support/node.js';
import { auth, backends, failure, name, startConversation, success } from './support.js';

/** Values Ajv's number coercion used to accept, or that are not plain whole numbers. */
const BAD_LIMITS = ['Infinity', '-Infinity', '1e400', '1e2', '0x10', '1.0', '1.5', '-1', '0', '+5', ' 5', '5 ', '', 'NaN', 'abc', '1'.repeat(400)];

describe('queryLimit', () => {
  it('reads absent as the default and whole numbers within bounds as themselves', () => {
    expect(queryLimit(undefined, 'limit', 10, 100)).toBe(10);
    expect(queryLimit('1', 'limit', 10, 100)).toBe(1);
    expect(queryLimit('100', 'limit', 10, 100)).toBe(100);
    expect(queryLimit('007', 'limit', 10, 100)).toBe(7);
  });

  it.each([...BAD_LIMITS, '101', '999999999', '9999999999'])('refuses %j with INVALID_DATA naming the range', (value) => {
    let error: unknown;
    try {
      queryLimit(value, 'limit', 10, 100);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_DATA');
    expect((error as AppError).message).toBe('limit must be a whole number from 1 to 100');
  });
});

for (const backend of backends) {
  describe(`query parameters (${backend.name})`, () => {
    let t: TestNode;
    let alice: string;
    let conversationId: string;
    beforeAll(async () => {
      t = await backend.start();
      alice = await createUser(t.db, name('alice'));
      const bob = await createUser(t.db, name('bob'));
      conversationId = await startConversation(t, alice, [bob]);
    });
    afterAll(async () => {
      await t?.close();
    });

    const get = async (url: string) => t.node.app.inject({ method: 'GET', url, headers: await auth(t, alice) });

    // Issue 7, defect 3: `limit=Infinity`, `-Infinity` and `1e400` were coerced to infinities that
    // the schema accepted and the database refused: a 500.
    it.each(['Infinity', '-Infinity', '1e400'])('issue 7 defect 3: limit=%s is a 400 on both routes, not a 500', async (limit) => {
      expect(failure(await get(`/massenger?limit=${limit}`), 400)).toBe('limit must be a whole number from 1 to 100');
      expect(failure(await get(`/massenger/${conversationId}?limit=${limit}`), 400)).toBe('limit must be a whole number from 1 to 100');
    });

    it('refuses every limit that is not a whole number from 1 to the maximum', async () => {
      for (const limit of [...BAD_LIMITS, '101']) {
        const q = encodeURIComponent(limit);
        failure(await get(`/massenger?limit=${q}`), 400);
        failure(await get(`/massenger/${conversationId}?limit=${q}`), 400);
      }
    });

    it('refuses a repeated parameter instead of picking one', async () => {
      expect(failure(await get('/massenger?limit=1&limit=2'), 400)).toMatch(/limit/);
      expect(failure(await get(`/massenger/${conversationId}?before=5&before=6`), 400)).toMatch(/before/);
    });

    it('still reads good limits, at the bounds included', async () => {
      expect(success(await get('/massenger?limit=1')).conversations).toHaveLength(1);
      expect(success(await get('/massenger?limit=100')).conversations).toHaveLength(1);
      expect(success(await get(`/massenger/${conversationId}?limit=100`)).conversation.id).toBe(conversationId);
      expect(success(await get(`/massenger/${conversationId}?limit=1&before=9223372036854775807`)).conversation.messages).toEqual([]);
    });

    it('answers bad input (400) before the stranger\'s 404', async () => {
      failure(await get('/massenger/999999?limit=Infinity'), 400);
      failure(await get('/massenger/999999?limit=5'), 404);
    });

    it('bounds a `before` time to years the database can hold (1970 to 9999)', async () => {
      for (const before of ['0000-01-01', '0001-01-01', '1969-12-31T23:59:59.999Z', '10000-01-01', '2020-13-01', '2020-01-01T', '2020-01-01T25:00']) {
        expect(failure(await get(`/massenger?before=${before}`), 400)).toBe('before must be a conversation id or an ISO 8601 time from 1970 to 9999');
      }
      for (const before of ['1970-01-01', '9999-12-31T23:59:59.999Z', '2020-01-01T00:00:00.123456Z']) {
        expect(success(await get(`/massenger?before=${before}`)).conversations).toHaveLength(before.startsWith('9999') ? 1 : 0);
      }
    });

    it('refuses a `before` id outside the bigint range', async () => {
      for (const before of ['0', '9223372036854775808', '99999999999999999999']) {
        failure(await get(`/massenger?before=${before}`), 400);
        failure(await get(`/massenger/${conversationId}?before=${before}`), 400);
      }
    });
  });
}
