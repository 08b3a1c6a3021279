/**
 * A real WebSocket client for tests: sends frames, and awaits the next frame of a method (or
 * matching a predicate) with a deadline, keeping every frame it received for later assertions.
 */
import WebSocket from 'ws';

export interface Frame {
  method: string;
  data: Record<string, any>;
}

export class TestClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  #cursor = 0;
  #closedWith: string | null = null;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        this.#closedWith = `${code} ${reason.toString()}`.trim();
        resolve({ code, reason: reason.toString() });
      }),
    );
    this.ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as Frame;
      this.frames.push(frame);
      const waiter = this.#waiters.find((w) => w.match(frame));
      if (waiter !== undefined) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    });
  }

  static async open(url: string): Promise<TestClient> {
    const c = new TestClient(url);
    await c.opened;
    return c;
  }

  send(method: string, data?: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(data === undefined ? { method } : { method, data }));
  }

  raw(text: string | Buffer, binary = false): void {
    this.ws.send(text, { binary });
  }

  /**
   * The next frame (after those already taken by `next`) of this method that matches; waits for
   * it when it has not arrived yet.
   */
  next(method: string | string[], match: (data: Record<string, any>) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const methods = typeof method === 'string' ? [method] : method;
    const test = (f: Frame) => methods.includes(f.method) && match(f.data);
    for (let i = this.#cursor; i < this.frames.length; i++) {
      const f = this.frames[i]!;
      if (test(f)) {
        this.#cursor = i + 1;
        return Promise.resolve(f);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${method} within ${timeoutMs} ms (${this.#socketState()}); got ${this.frames.map((f) => f.method).join(',')}`));
      }, timeoutMs);
      const done = (f: Frame) => {
        clearTimeout(timer);
        this.#cursor = this.frames.indexOf(f) + 1;
        resolve(f);
      };
      this.#waiters.push({ match: test, resolve: done });
    });
  }

  /** For a timeout's message: whether the socket is still open, and how it closed if not. */
  #socketState(): string {
    if (this.ws.readyState === WebSocket.OPEN) return 'socket open';
    return this.#closedWith === null ? `socket ${['connecting', 'open', 'closing', 'closed'][this.ws.readyState]}` : `socket closed ${this.#closedWith}`;
  }

  /** Sends a request and waits for its direct reply (matched on requestId) or an ERROR for it. */
  async request(method: string, data: Record<string, unknown>, replyMethod: string, timeoutMs = 5000): Promise<Frame> {
    const requestId = `r${Math.random().toString(36).slice(2)}`;
    this.send(method, { ...data, requestId });
    return this.next([replyMethod, 'ERROR'], (d) => d.requestId === requestId, timeoutMs);
  }

  /**
   * A fence: sends PING and waits for its PONG. The server handles a connection's frames in turn
   * and writes to it in order, so once the PONG is here, so is every frame the server wrote to this
   * connection before it read the PING.
   */
  async fence(timeoutMs = 5000): Promise<void> {
    const reply = await this.request('PING', {}, 'PONG', timeoutMs);
    if (reply.method !== 'PONG') throw new Error(`PING answered with ${JSON.stringify(reply)}`);
  }

  /** Frames of a method received so far. */
  all(method: string): Frame[] {
    return this.frames.filter((f) => f.method === method);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}
