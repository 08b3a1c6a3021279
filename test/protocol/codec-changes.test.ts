/** Decoding EDIT_MESSAGE and DELETE_MESSAGE (spec §2.1): ids normalised, content rules, context on errors. */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { decode } from '../../src/protocol/codec.js';

function rejected(raw: string): AppError {
  const result = decode(raw, false);
  if (!(result instanceof AppError)) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result;
}

describe('decode EDIT_MESSAGE and DELETE_MESSAGE', () => {
  it('normalises the message id, keeps the content as sent, drops other fields', () => {
    expect(decode('{"method":"EDIT_MESSAGE","data":{"messageId":7,"content":" new \\u00e9 ","requestId":"r","token":"x"}}', false)).toEqual({
      method: 'EDIT_MESSAGE',
      data: { messageId: '7', content: ' new \u00e9 ', requestId: 'r' },
    });
    expect(decode('{"method":"DELETE_MESSAGE","data":{"messageId":"0012"}}', false)).toEqual({ method: 'DELETE_MESSAGE', data: { messageId: '12' } });
  });

  it('answers INVALID_DATA naming the request for a bad id or content', () => {
    const cases = [
      '{"method":"EDIT_MESSAGE","data":{"content":"x"}}',
      '{"method":"EDIT_MESSAGE","data":{"messageId":"x","content":"x"}}',
      '{"method":"EDIT_MESSAGE","data":{"messageId":1}}',
      '{"method":"EDIT_MESSAGE","data":{"messageId":1,"content":"   "}}',
      `{"method":"EDIT_MESSAGE","data":{"messageId":1,"content":"${'x'.repeat(4001)}"}}`,
      '{"method":"EDIT_MESSAGE","data":{"messageId":1,"content":5}}',
      '{"method":"DELETE_MESSAGE"}',
      '{"method":"DELETE_MESSAGE","data":{"messageId":0}}',
      '{"method":"DELETE_MESSAGE","data":{"messageId":"9223372036854775808"}}',
    ];
    for (const raw of cases) expect(rejected(raw).code, raw).toBe('INVALID_DATA');
    expect(rejected('{"method":"EDIT_MESSAGE","data":{"messageId":1,"content":"","requestId":"r2"}}').context).toEqual({ method: 'EDIT_MESSAGE', requestId: 'r2' });
  });
});
