/**
 * Whole HTTP/1.1 requests as bytes, for what only a raw socket can send: odd methods and request
 * targets, other protocol versions, missing or repeated Host and Content-Length, header names and
 * values with bytes HTTP does not allow or far too long, bad percent-encoding, WebSocket
 * handshakes with any of their headers wrong. Each ends with `Connection: close` and a body as
 * long as it says (or a Content-Length that is wrong on purpose), so the server has all of it.
 */
import fc from 'fast-check';

export interface RawRequest {
  bytes: Buffer;
  /** A WebSocket handshake on a socket path: the only request a 101 may answer. */
  upgrade: boolean;
  /** A HEAD request: its answer has headers only. */
  head: boolean;
}

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'HEAD') },
  { weight: 1, arbitrary: fc.constantFrom('PUT', 'OPTIONS', 'PROPFIND', 'TRACE', 'CONNECT', 'get', 'G E T', 'GET\u0000', 'ÄÖ', '') },
);

const target = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/', '/socket', '/healthz', '/readyz', '/metrics', '/openapi.json', '/massenger', '/Massenger/1', '/massenger/startConversation', '/socket/notifications', '/massenger/messages/1') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('/%zz', '/massenger/%zz', '/massenger/%E0%A4%A', '/massenger?limit=%zz', '/healthz?%', '/healthz#x', '*', 'http://localhost/healthz', 'example.com:443', '/a b', '/\u0000', '/..%2f..%2f', '//healthz', '/massenger/' + '9'.repeat(101), '/?' + 'q'.repeat(20000)),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }).map((s) => `/${s}`) },
);

const version = fc.oneof({ weight: 10, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/0.9', '') });

const headerName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Accept', 'Authorization', 'Content-Type', 'Cookie', 'X-Custom', 'Origin', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions', 'Expect', 'Transfer-Encoding', 'Content-Length', 'Host') },
  { weight: 1, arbitrary: fc.constantFrom('Bad Name', 'X\u0000', ':x', '', 'Ä', 'X'.repeat(300)) },
);
const headerValue = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom('a\u0000b', '\u007f', 'é', '\ud800', 'Bearer ' + 'a'.repeat(20000), 'chunked', 'gzip', '-1', 'abc', '100-continue', 'something-else', ' ') },
);

/** Header lines besides Host and Connection; the usual ones mostly. */
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 });

const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** The headers of a WebSocket handshake, each one right, wrong or left out. */
const handshake = fc
  .record({
    upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', 'websocket, h2c', ''),
    key: fc.constantFrom(WS_KEY, WS_KEY, 'short', '', null),
    version: fc.constantFrom('13', '13', '8', '12', 'x', null),
  })
  .map(({ upgrade, key, version }) => {
    const lines = [['Upgrade', upgrade]];
    if (key !== null) lines.push(['Sec-WebSocket-Key', key]);
    if (version !== null) lines.push(['Sec-WebSocket-Version', version]);
    return lines as Array<[string, string]>;
  });

const body = fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('{}', '{"users":["1"],"content":"x"}', '{', 'x'.repeat(100)) });

export const rawRequest: fc.Arbitrary<RawRequest> = fc
  .record({
    method,
    target,
    version,
    host: fc.oneof({ weight: 8, arbitrary: fc.constant(['localhost']) }, { weight: 1, arbitrary: fc.constantFrom([], ['a', 'b'], ['']) }),
    headers,
    handshake: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: handshake }),
    body,
    contentLength: fc.oneof({ weight: 8, arbitrary: fc.constant('exact') }, { weight: 1, arbitrary: fc.constantFrom('none', 'short', 'twice') }),
  })
  .map((r) => {
    // Framing is the fuzzer's own: a Transfer-Encoding or Content-Length from `headers` could leave
    // the server waiting for a body that never comes, and Expect: 100-continue answers twice.
    const own = [...(r.handshake ?? []), ...r.headers].filter(([name, value]) => !/^(content-length|transfer-encoding|connection)$/i.test(name) && !(/^expect$/i.test(name) && /100-continue/i.test(value)));
    const length = Buffer.byteLength(r.body);
    const framing: Array<[string, string]> = {
      exact: length > 0 ? [['Content-Length', String(length)]] : [],
      short: [['Content-Length', String(Math.max(0, length - 1))]],
      twice: [['Content-Length', String(length)], ['Content-Length', String(length + 1)]],
      none: [],
    }[r.contentLength] as Array<[string, string]>;
    const lines = [...r.host.map((h): [string, string] => ['Host', h]), ...own, ...framing, ['Connection', r.handshake === null ? 'close' : 'Upgrade']];
    const text = `${r.method} ${r.target} ${r.version}`.trimEnd() + '\r\n' + lines.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n' + (r.contentLength === 'none' ? '' : r.body);
    const socketPath = r.target === '/' || r.target === '/socket';
    return { bytes: Buffer.from(text, 'utf8'), upgrade: r.handshake !== null && r.method === 'GET' && socketPath, head: r.method === 'HEAD' };
  });
