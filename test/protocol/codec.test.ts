import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { checkContent, decode, encode, errorFrame, parseId, withRequestIdText } from '../../src/protocol/codec.js';

function rejected(raw: string | Buffer, binary = false): AppError {
  const result = decode(raw, binary);
  if (!(result instanceof AppError)) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result;
}

describe('parseId', () => {
  it('accepts positive integers as numbers or decimal strings and answers strings', () => {
    expect(parseId(42)).toBe('42');
    expect(parseId('42')).toBe('42');
    expect(parseId('007')).toBe('7');
    expect(parseId('9223372036854775807')).toBe('9223372036854775807');
  });
  it('refuses everything else', () => {
    for (const bad of [0, -1, 1.5, '0', '-1', '1e3', ' 1', '', '9223372036854775808', 2 ** 60, null, {}, [], true]) {
      expect(parseId(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});

describe('checkContent', () => {
  it('accepts 1 to 4000 characters counted as code points', () => {
    expect(checkContent('a')).toBeNull();
    expect(checkContent('x'.repeat(4000))).toBeNull();
    expect(checkContent('😀'.repeat(4000))).toBeNull();
  });
  it('refuses empty, too long, white space only, NUL and lone surrogates', () => {
    expect(checkContent('')).toMatch(/1 to 4000/);
    expect(checkContent('x'.repeat(4001))).toMatch(/1 to 4000/);
    expect(checkContent(' \n\t\u00a0')).toMatch(/white space/);
    expect(checkContent('a\u0000b')).toMatch(/NUL/);
    expect(checkContent('a\ud800b')).toMatch(/well-formed/);
    expect(checkContent(12)).toMatch(/string/);
  });
});

describe('decode', () => {
  it('decodes every method and normalises ids', () => {
    expect(decode('{"method":"PING"}', false)).toEqual({ method: 'PING', data: {} });
    expect(decode('{"method":"AUTHENTICATE","data":{"token":"t","lastMessageId":5}}', false)).toEqual({
      method: 'AUTHENTICATE',
      data: { token: 't', lastMessageId: '5' },
    });
    expect(decode('{"method":"SEND_MESSAGE","data":{"conversationId":3,"content":"hi","clientMessageId":"c","requestId":"r","token":"x"}}', false)).toEqual({
      method: 'SEND_MESSAGE',
      data: { conversationId: '3', content: 'hi', clientMessageId: 'c', requestId: 'r' },
    });
    expect(decode('{"method":"FETCH_MESSAGES","data":{"conversationId":"3"}}', false)).toEqual({
      method: 'FETCH_MESSAGES',
      data: { conversationId: '3', limit: 50 },
    });
    expect(decode('{"method":"FETCH_MESSAGES","data":{"conversationId":"3","before":"10","limit":100}}', false)).toEqual({
      method: 'FETCH_MESSAGES',
      data: { conversationId: '3', before: '10', limit: 100 },
    });
    expect(decode('{"method":"TYPING","data":{"conversationId":"3"}}', false)).toEqual({ method: 'TYPING', data: { conversationId: '3' } });
    expect(decode('{"method":"OPEN_CONVERSATION","data":{"conversationId":"3"}}', false)).toEqual({
      method: 'OPEN_CONVERSATION',
      data: { conversationId: '3' },
    });
  });

  it('answers BAD_FRAME for what is not a JSON object', () => {
    for (const raw of ['not json', '[1,2]', '42', '"PING"', 'null', '{"data":{}}', '{"method":5}']) {
      expect(rejected(raw).code, raw).toBe('BAD_FRAME');
    }
    expect(rejected(Buffer.from('{"method":"PING"}'), true).code).toBe('BAD_FRAME');
  });

  it('answers UNKNOWN_METHOD with the method and requestId', () => {
    const err = rejected('{"method":"DELETE_EVERYTHING","data":{"requestId":"r1"}}');
    expect(err.code).toBe('UNKNOWN_METHOD');
    expect(err.context).toMatchObject({ method: 'DELETE_EVERYTHING', requestId: 'r1' });
  });

  it('answers INVALID_DATA with context for wrong fields', () => {
    const cases = [
      '{"method":"AUTHENTICATE","data":{"token":"t","lastMessageId":"x"}}',
      '{"method":"SEND_MESSAGE","data":{"conversationId":"x","content":"hi"}}',
      '{"method":"SEND_MESSAGE","data":{"conversationId":1,"content":"   "}}',
      '{"method":"SEND_MESSAGE","data":{"conversationId":1,"content":"hi","clientMessageId":""}}',
      `{"method":"SEND_MESSAGE","data":{"conversationId":1,"content":"hi","clientMessageId":"${'c'.repeat(65)}"}}`,
      '{"method":"FETCH_MESSAGES","data":{"conversationId":1,"limit":101}}',
      '{"method":"FETCH_MESSAGES","data":{"conversationId":1,"limit":0}}',
      '{"method":"FETCH_MESSAGES","data":{"conversationId":1,"before":"soon"}}',
      '{"method":"TYPING","data":[]}',
      '{"method":"OPEN_CONVERSATION","data":"1"}',
      `{"method":"PING","data":{"requestId":"${'r'.repeat(65)}"}}`,
    ];
    for (const raw of cases) expect(rejected(raw).code, raw).toBe('INVALID_DATA');
    const err = rejected('{"method":"SEND_MESSAGE","data":{"conversationId":1,"content":"","clientMessageId":"c9","requestId":"r9"}}');
    expect(err.context).toEqual({ method: 'SEND_MESSAGE', requestId: 'r9', clientMessageId: 'c9' });
  });

  it('answers UNAUTHENTICATED for an AUTHENTICATE without a token (a failed sign-in, not a data slip)', () => {
    for (const raw of ['{"method":"AUTHENTICATE"}', '{"method":"AUTHENTICATE","data":{}}', '{"method":"AUTHENTICATE","data":{"token":5}}', '{"method":"AUTHENTICATE","data":{"token":"","requestId":"r"}}']) {
      const err = rejected(raw);
      expect(err.code, raw).toBe('UNAUTHENTICATED');
      expect(err.context?.method).toBe('AUTHENTICATE');
    }
  });

  it('answers BAD_FRAME for a text frame that is not UTF-8', () => {
    expect(rejected(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])).code).toBe('BAD_FRAME');
    expect(decode(Buffer.from('{"method":"PING","data":{"requestId":"é😀"}}'), false)).toEqual({ method: 'PING', data: { requestId: 'é😀' } });
  });

  it('refuses a clientMessageId that could not be stored as sent (lone surrogates, NUL), so two ids never become one', () => {
    for (const id of ['\udc00', '\udc01', 'a\u0000b']) {
      const raw = JSON.stringify({ method: 'SEND_MESSAGE', data: { conversationId: '1', content: 'x', clientMessageId: id } });
      expect(rejected(raw).code).toBe('INVALID_DATA');
    }
    expect(decode(JSON.stringify({ method: 'SEND_MESSAGE', data: { conversationId: '1', content: 'x', clientMessageId: '\ufffd' } }), false)).toMatchObject({
      data: { clientMessageId: '\ufffd' },
    });
  });

  it('counts requestId and clientMessageId in characters, like content', () => {
    expect(decode(JSON.stringify({ method: 'PING', data: { requestId: '😀'.repeat(64) } }), false)).toEqual({ method: 'PING', data: { requestId: '😀'.repeat(64) } });
    expect(rejected(JSON.stringify({ method: 'PING', data: { requestId: '😀'.repeat(65) } })).code).toBe('INVALID_DATA');
  });

  it('never throws on hostile input', () => {
    for (const raw of ['{"method":"PING","data":{"__proto__":{"x":1}}}', '{"method":"constructor"}', '{"method":"toString"}', '\u0000', '{'.repeat(10000)]) {
      expect(() => decode(raw, false)).not.toThrow();
    }
  });
});

describe('encode and errorFrame', () => {
  it('encodes an ERROR frame with its context', () => {
    const err = new AppError('NOT_FOUND', 'conversation not found', undefined, { method: 'TYPING', requestId: 'r' });
    expect(JSON.parse(encode(errorFrame(err)))).toEqual({
      method: 'ERROR',
      data: { code: 'NOT_FOUND', message: 'conversation not found', method: 'TYPING', requestId: 'r' },
    });
  });
});

describe('withRequestIdText', () => {
  const message = {
    id: '12',
    conversationId: '3',
    author: '7',
    content: 'a "quoted" \\ line\nand 😀 {braces}}',
    createdAt: '2026-12-03T10:00:00.123Z',
    updatedAt: '2026-12-03T10:00:00.123Z',
    deletedAt: null,
    clientMessageId: 'c-1',
  };

  it('gives the text encode() gives for the frame with data.requestId, whatever the requestId holds', () => {
    const text = encode({ method: 'MESSAGE_SENT', data: { message } });
    for (const requestId of ['r', '', 'a"b\\c', '}}', 'line\nbreak', '😀 ünï', '\u0001', 'x'.repeat(200)]) {
      const copy = withRequestIdText(text, requestId);
      expect(copy).toBe(encode({ method: 'MESSAGE_SENT', data: { message, requestId } }));
      expect(JSON.parse(copy)).toEqual({ method: 'MESSAGE_SENT', data: { message, requestId } });
    }
  });

  it('leaves the text as it is without a requestId', () => {
    const text = encode({ method: 'MESSAGE_SENT', data: { message } });
    expect(withRequestIdText(text, undefined)).toBe(text);
  });
});
