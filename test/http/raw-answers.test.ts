/**
 * Every answer is the spec §3 envelope, from every layer (issue 7, defect 5), over a real socket:
 * requests Node refuses before Fastify sees them (431, 400), URLs the router cannot decode (400
 * FST_ERR_BAD_URL, 414), Fastify's own refusals (404, 413, 415) and Node's 417. `inject()` skips
 * Node's HTTP parser, so these speak raw HTTP/1.1 to a listening node.
 */
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorHandler, MAX_HEADER_BYTES } from '../../src/http/envelope.js';
import { BODY_LIMIT_BYTES } from '../../src/http/app.js';
import { Metrics } from '../../src/metrics.js';
import { startNode, type TestNode } from '../support/node.js';
import { enveloped, rawHttp } from '../support/raw-http.js';

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
    expect(enveloped(await rawHttp(port, get(`/massenger?before=${'1'.repeat(MAX_HEADER_BYTES)}`)), 431)).toBe(message);
    expect(enveloped(await rawHttp(port, get(`/massenger/${'1'.repeat(MAX_HEADER_BYTES)}`)), 431)).toBe(message);
    expect(enveloped(await rawHttp(port, get('/healthz', `X-Padding: ${'a'.repeat(MAX_HEADER_BYTES)}\r\n`)), 431)).toBe(message);
  });

  it('issue 7 defect 5: 400 FST_ERR_BAD_URL for malformed percent-encoding is the envelope', async () => {
    expect(enveloped(await rawHttp(port, get('/massenger/%zz')), 400)).toMatch(/not a valid url component/);
    enveloped(await rawHttp(port, get('/socket/notifications%E0%A4%A')), 400);
  });

  it('a path parameter over the router\'s length limit is a 414 envelope', async () => {
    enveloped(await rawHttp(port, get(`/massenger/${'1'.repeat(200)}`)), 414);
  });

  it('requests Node cannot parse are 400 envelopes', async () => {
    const message = 'the request is not valid HTTP/1.1';
    expect(enveloped(await rawHttp(port, 'GARBAGE\r\n\r\n'), 400)).toBe(message);
    expect(enveloped(await rawHttp(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n'), 400)).toBe(message);
    const smuggled = 'POST /socket/notifications HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    expect(enveloped(await rawHttp(port, smuggled), 400)).toBe(message);
  });

  it('unknown routes and methods are 404 envelopes', async () => {
    expect(enveloped(await rawHttp(port, get('/nowhere?token=secret')), 404)).toBe('no route GET /nowhere');
    enveloped(await rawHttp(port, 'PROPFIND /massenger HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), 404);
  });

  it('a wrong media type is a 415 envelope, a body over the limit a 413 one, bad JSON a 400 one', async () => {
    const post = (headers: string, body: string) =>
      `POST /socket/notifications HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers}\r\n${body}`;
    enveloped(await rawHttp(port, post('Content-Type: text/csv\r\nContent-Length: 3\r\n', 'a,b')), 415);
    // Refused on the declared length, before the body is read.
    enveloped(await rawHttp(port, post(`Content-Type: application/json\r\nContent-Length: ${BODY_LIMIT_BYTES + 1}\r\n`, '{')), 413);
    enveloped(await rawHttp(port, post('Content-Type: application/json\r\nContent-Length: 9\r\n', '{"users":')), 400);
  });

  it('an Expect other than 100-continue is a 417 envelope', async () => {
    expect(enveloped(await rawHttp(port, get('/healthz', 'Expect: something-else\r\n')), 417)).toBe('only Expect: 100-continue is supported');
  });

  it('a good request on the same port still answers 200 in the envelope', async () => {
    const answer = await rawHttp(port, get('/healthz'));
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
