/**
 * One HTTP/1.1 exchange written by hand over TCP, for requests no HTTP client would send (a bad
 * WebSocket handshake, malformed headers, an invalid percent-encoding) and for checking the answer
 * byte for byte. `inject()` skips Node's HTTP parser and the 'upgrade' event, so these need a
 * listening node.
 */
import net from 'node:net';
import { expect } from 'vitest';

export interface RawAnswer {
  status: number;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes `request` as is and reads one answer: up to its Content-Length, or until the server
 * closes the connection; a 101, or any answer with `headOnly` (to a HEAD), ends at its headers.
 */
export function rawHttp(port: number, request: string | Buffer, { timeoutMs = 5000, headOnly = false } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (answer: RawAnswer | Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const parse = (closed: boolean): void => {
      const split = received.indexOf('\r\n\r\n');
      if (split < 0) {
        if (closed) finish(new Error(`no HTTP answer: ${JSON.stringify(received.toString('latin1').slice(0, 200))}`));
        return;
      }
      const [statusLine = '', ...lines] = received.subarray(0, split).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const status = Number(statusLine.split(' ')[1]);
      const body = received.subarray(split + 4);
      const length = headers['content-length'] === undefined ? null : Number(headers['content-length']);
      if (status === 101 || headOnly || closed || (length !== null && body.length >= length)) {
        finish({ status, headers, body: body.subarray(0, length ?? body.length).toString('utf8') });
      }
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no whole HTTP answer within ${timeoutMs} ms: ${JSON.stringify(received.toString('latin1').slice(0, 200))}`)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      parse(false);
    });
    // The server may reset a connection it refused while the request was still being written;
    // what it answered before is what counts.
    socket.on('error', (err) => (received.length > 0 ? parse(true) : finish(err)));
    socket.on('close', () => parse(true));
    socket.write(request);
  });
}

/** Asserts a failure envelope (spec §3) with this status and nothing else; returns its message. */
export function enveloped(answer: RawAnswer, status: number): string {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
  const body = JSON.parse(answer.body) as { data: unknown; errors: unknown };
  expect(Object.keys(body).sort()).toEqual(['data', 'errors']);
  expect(body.data).toBeNull();
  expect(typeof body.errors).toBe('string');
  return body.errors as string;
}
