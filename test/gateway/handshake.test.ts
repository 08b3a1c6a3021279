/**
 * A WebSocket handshake that is refused is answered with the spec §3 envelope like every other
 * answer. ws checks the handshake itself and used to answer in plain text (`400 Missing or invalid
 * Sec-WebSocket-Key header`, `405 Invalid HTTP method`...): these speak raw HTTP/1.1 to a node.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enveloped, rawHttp } from '../support/raw-http.js';
import { startNode, type TestNode } from '../support/node.js';

const KEY = randomBytes(16).toString('base64');

/** An upgrade request on `path` with these header lines (each ending in CRLF). */
function upgrade(headers: string, { method = 'GET', path = '/' } = {}): string {
  return `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${headers}\r\n`;
}

describe('WebSocket handshake refusals', () => {
  let t: TestNode;
  let port: number;
  beforeAll(async () => {
    t = await startNode();
    port = Number(new URL(t.http).port);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('ws plain-text refusals: a missing or invalid Sec-WebSocket-Key is a 400 envelope', async () => {
    expect(enveloped(await rawHttp(port, upgrade('Sec-WebSocket-Version: 13\r\n')), 400)).toMatch(/Sec-WebSocket-Key/);
    enveloped(await rawHttp(port, upgrade('Sec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n')), 400);
  });

  it('ws plain-text refusals: an unsupported Sec-WebSocket-Version is a 400 envelope naming the versions spoken', async () => {
    for (const version of ['12', '', 'x', '14']) {
      const answer = await rawHttp(port, upgrade(`Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: ${version}\r\n`));
      expect(enveloped(answer, 400)).toMatch(/Sec-WebSocket-Version/);
      expect(answer.headers['sec-websocket-version']).toBe('13, 8');
    }
    const missing = await rawHttp(port, upgrade(`Sec-WebSocket-Key: ${KEY}\r\n`));
    enveloped(missing, 400);
    expect(missing.headers['sec-websocket-version']).toBe('13, 8');
  });

  it('ws plain-text refusals: a handshake that is not a GET is a 400 envelope', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const answer = await rawHttp(port, upgrade(`Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n`, { method }));
      expect(enveloped(answer, 400), method).toMatch(/method/);
      expect(answer.headers['sec-websocket-version']).toBeUndefined();
    }
  });

  it('ws plain-text refusals: a malformed Sec-WebSocket-Protocol is a 400 envelope', async () => {
    const answer = await rawHttp(port, upgrade(`Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a,,b\r\n`));
    expect(enveloped(answer, 400)).toMatch(/Sec-WebSocket-Protocol/);
  });

  it('an upgrade on another path is a 404 envelope, on /socket too when malformed', async () => {
    enveloped(await rawHttp(port, upgrade(`Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`, { path: '/chat' })), 404);
    enveloped(await rawHttp(port, upgrade('Sec-WebSocket-Version: 13\r\n', { path: '/socket?x=1' })), 400);
  });

  it('a request asking for another Upgrade than websocket (curl --http2: h2c) is answered as plain HTTP, not 404', async () => {
    const h2c = (method: string, path: string, headers = '') =>
      `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n${headers}\r\n`;
    const health = await rawHttp(port, h2c('GET', '/healthz'));
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ data: { status: 'up' }, errors: null });
    expect(health.headers.connection).toBe('close');
    expect(enveloped(await rawHttp(port, h2c('GET', '/Massenger')), 401)).toMatch(/Bearer/);
    expect(enveloped(await rawHttp(port, h2c('GET', '/socket')), 404)).toBe('no route GET /socket');
    // Its body cannot be read once Node has taken the request for an upgrade: refused, not lost.
    const withBody = h2c('POST', '/socket/notifications', 'Content-Type: application/json\r\nContent-Length: 2\r\n') + '{}';
    expect(enveloped(await rawHttp(port, withBody), 400)).toMatch(/body/);
  });

  it('counts the refusals under INVALID_DATA, and a good handshake on the same port still gets 101', async () => {
    const metrics = await (await fetch(`${t.http}/metrics`)).text();
    expect(Number(/^massenger_errors_total\{code="INVALID_DATA"\} (\d+)$/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(10);
    const answer = await rawHttp(port, upgrade(`Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`));
    expect(answer.status).toBe(101);
  });
});
