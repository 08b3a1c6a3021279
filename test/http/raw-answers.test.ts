/**
 * Every answer is the spec §3 envelope, from every layer (issue 7, defect 5), over a real socket:
 * requests Node refuses before Fastify sees them (431, 400), URLs the router cannot decode (400
 * FST_ERR_BAD_URL, 414), Fastify's own refusals (404, 413, 415) and Node's 417. `inject()` skips
 * Node's HTTP parser, so these speak raw HTTP/1.1 to a listening node.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorHandler, MAX_HEADER_BYTES } from '../../src/http/envelope.js';
import { BODY_LIMIT_BYTES } from '../../src/http/app.js';
import { Metrics } from '../../src/metrics.js';
import { startNode, type TestNode } from '../support/node.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` as is and reads the answer until the server closes the connection. */
function raw(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may reset a connection it refused while the request was still being written;
    // what it answered before is what counts.
    socket.on('error', (err) => (chunks.length > 0 ? undefined : reject(err)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.write(request);
  });
}

/** Asserts a failure envelope with this status; returns its message. */
function enveloped(answer: RawAnswer, status: number): string {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
  const body = JSON.parse(answer.body) as { data: unknown; errors: unknown };
  expect(Object.keys(body).sort()).toEqual(['data', 'errors']);
  expect(body.data).toBeNull();
  expect(typeof body.errors).toBe('string');
  return body.errors as string;
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`;

describe('answers from every layer over a real socket', () => {
  let t: TestNode;
  let port: number;
  beforeAll(async () => {
    t = await startNode();
    port = Number(new URL(t.http).port);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('issue 7 defect 5: 431 for a long query string, path or header is the envelope', async () => {
    const message = `the request line and headers must fit in ${MAX_HEADER_BYTES} bytes`;
    expect(enveloped(await raw(port, get(`/massenger?before=${'1'.repeat(MAX_HEADER_BYTES)}`)), 431)).toBe(message);
    expect(enveloped(await raw(port, get(`/massenger/${'1'.repeat(MAX_HEADER_BYTES)}`)), 431)).toBe(message);
    expect(enveloped(await raw(port, get('/healthz', `X-Padding: ${'a'.repeat(MAX_HEADER_BYTES)}\r\n`)), 431)).toBe(message);
  });

  it('issue 7 defect 5: 400 FST_ERR_BAD_URL for malformed percent-encoding is the envelope', async () => {
    expect(enveloped(await raw(port, get('/massenger/%zz')), 400)).toMatch(/not a valid url component/);
    enveloped(await raw(port, get('/socket/notifications%E0%A4%A')), 400);
  });

  it('a path parameter over the router\'s length limit is a 414 envelope', async () => {
    enveloped(await raw(port, get(`/massenger/${'1'.repeat(200)}`)), 414);
  });

  it('requests Node cannot parse are 400 envelopes', async () => {
    const message = 'the request is not valid HTTP/1.1';
    expect(enveloped(await raw(port, 'GARBAGE\r\n\r\n'), 400)).toBe(message);
    expect(enveloped(await raw(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n'), 400)).toBe(message);
    const smuggled = 'POST /socket/notifications HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    expect(enveloped(await raw(port, smuggled), 400)).toBe(message);
  });

  it('unknown routes and methods are 404 envelopes', async () => {
    expect(enveloped(await raw(port, get('/nowhere?token=secret')), 404)).toBe('no route GET /nowhere');
    enveloped(await raw(port, 'PROPFIND /massenger HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), 404);
  });

  it('a wrong media type is a 415 envelope, a body over the limit a 413 one, bad JSON a 400 one', async () => {
    const post = (headers: string, body: string) =>
      `POST /socket/notifications HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers}\r\n${body}`;
    enveloped(await raw(port, post('Content-Type: text/csv\r\nContent-Length: 3\r\n', 'a,b')), 415);
    // Refused on the declared length, before the body is read.
    enveloped(await raw(port, post(`Content-Type: application/json\r\nContent-Length: ${BODY_LIMIT_BYTES + 1}\r\n`, '{')), 413);
    enveloped(await raw(port, post('Content-Type: application/json\r\nContent-Length: 9\r\n', '{"users":')), 400);
  });

  it('an Expect other than 100-continue is a 417 envelope', async () => {
    expect(enveloped(await raw(port, get('/healthz', 'Expect: something-else\r\n')), 417)).toBe('only Expect: 100-continue is supported');
  });

  it('a good request on the same port still answers 200 in the envelope', async () => {
    const answer = await raw(port, get('/healthz'));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ data: { status: 'up' }, errors: null });
  });

  it('counts these refusals in massenger_errors_total', async () => {
    const metrics = await (await fetch(`${t.http}/metrics`)).text();
    expect(Number(/^massenger_errors_total\{code="INVALID_DATA"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
  });
});

describe('clientErrorHandler', () => {
  // A socket stand-in recording what the handler writes and whether it closed the connection.
  const answer = (code: string): { text: string; destroyed: boolean } => {
    const socket = {
      text: '',
      destroyed: false,
      writable: true,
      write(chunk: string) {
        this.text += chunk;
        return true;
      },
      destroy() {
        this.destroyed = true;
      },
    };
    if (code === 'ECONNRESET') socket.writable = false;
    clientErrorHandler(new Metrics({ defaultMetrics: false }))(Object.assign(new Error(code), { code }), socket as unknown as Duplex);
    return { text: socket.text, destroyed: socket.destroyed };
  };

  it('answers a request not received within the request timeout with a 408 envelope and closes', () => {
    const { text, destroyed } = answer('ERR_HTTP_REQUEST_TIMEOUT');
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(text.endsWith('{"data":null,"errors":"the request was not received in time"}')).toBe(true);
    expect(destroyed).toBe(true);
  });

  it('writes nothing into a response already under way, but still closes', () => {
    const socket = { writable: true, destroyed: false, text: '', _httpMessage: { headersSent: true } };
    const write = (chunk: string) => (socket.text += chunk);
    const destroy = () => (socket.destroyed = true);
    clientErrorHandler()(Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), Object.assign(socket, { write, destroy }) as unknown as Duplex);
    expect(socket).toMatchObject({ text: '', destroyed: true });
  });

  it('writes nothing to a connection the peer reset', () => {
    expect(answer('ECONNRESET')).toEqual({ text: '', destroyed: false });
  });
});
