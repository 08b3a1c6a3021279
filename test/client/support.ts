/**
 * What the client suites share: a real TCP proxy on loopback between a client and a node (to cut,
 * freeze or refuse links, and to point one URL at a restarted node), an event recorder that waits
 * for events instead of sleeping, and a client factory on the `ws` package (Node 20 has no global
 * WebSocket).
 */
import net from 'node:net';
import WebSocket from 'ws';
import { MassengerClient, type ClientEvents, type ClientOptions } from '../../src/client/index.js';
import { backends, type BackendNode } from '../support/backends.js';

/** Time a suite's node may take to start on a loaded machine (PGlite loads a WebAssembly build). */
export const NODE_START_MS = 120_000;

/**
 * A node for a client suite: on PostgreSQL when it is reachable (it starts faster), else on the
 * embedded database. The library is what is under test here, not the store.
 */
export async function startTestNode(env: Record<string, string> = {}): Promise<BackendNode> {
  const available = await backends();
  return available[available.length - 1]!.start(env);
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** Drops what the server sends (its acknowledgements never arrive). */
  muted: boolean;
}

export class TcpProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #target: number;
  #refusing = false;
  /** Connections accepted so far (each reconnect is one). */
  accepted = 0;

  private constructor(server: net.Server, target: number) {
    this.#server = server;
    this.#target = target;
  }

  static async start(target: number): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, target);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}/`;
  }

  /** Later connections go to this port (a restarted node). */
  retarget(port: number): void {
    this.#target = port;
  }

  /** Resets every open link at once, as a network failure would (the client sees 1006). */
  cut(): void {
    for (const p of this.#pairs) {
      p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Stops moving bytes on the open links, leaving them open: a link that died silently. */
  freeze(): void {
    for (const p of this.#pairs) {
      p.client.pause();
      p.upstream.pause();
    }
  }

  /** Drops what the server sends on the open links from now on. */
  muteServer(): void {
    for (const p of this.#pairs) p.muted = true;
  }

  /** While refusing, new connections are reset at once (the node looks down). */
  refuse(on: boolean): void {
    this.#refusing = on;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    if (this.#refusing) return void client.resetAndDestroy();
    const upstream = net.connect(this.#target, '127.0.0.1');
    const pair: Pair = { client, upstream, muted: false };
    this.#pairs.add(pair);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!pair.muted) client.write(chunk);
    });
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  }
}

type Recorded = { [E in keyof ClientEvents]: { event: E; data: ClientEvents[E]; at: number } }[keyof ClientEvents];
const EVENTS: Array<keyof ClientEvents> = [
  'INIT', 'USER_JOINED', 'USER_LEFT', 'MESSAGE_SENT', 'CONVERSATION_SEEN', 'INVITATION_SENT', 'NOTIFICATION_SENT',
  'TYPING', 'MESSAGES', 'MESSAGE_EDITED', 'MESSAGE_DELETED', 'MEMBERS_CHANGED', 'PONG', 'ERROR', 'state', 'reload', 'authFailed',
];

/** Every event a client emitted since it was made, and waits on past or future ones. */
export class Recorder {
  readonly events: Recorded[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(readonly client: MassengerClient) {
    for (const event of EVENTS) {
      client.on(event, (data: unknown) => {
        this.events.push({ event, data, at: Date.now() } as Recorded);
        for (const w of [...this.#waiters]) w();
      });
    }
  }

  /** The data of every `event` so far that matches. */
  all<E extends keyof ClientEvents>(event: E, match: (data: ClientEvents[E]) => boolean = () => true): Array<ClientEvents[E]> {
    return this.events.filter((r) => r.event === event && match(r.data as ClientEvents[E])).map((r) => r.data as ClientEvents[E]);
  }

  /** Resolves once `count` matching `event`s were emitted (counting those before the call). */
  async waitFor<E extends keyof ClientEvents>(event: E, match: (data: ClientEvents[E]) => boolean = () => true, timeoutMs = 8000, count = 1): Promise<ClientEvents[E]> {
    const found = () => this.all(event, match);
    if (found().length >= count) return found()[count - 1]!;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (found().length < count) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(found()[count - 1]!);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count} ${event}; got ${this.events.map((r) => r.event).join(',')}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Resolves once `condition` holds, checking it after every event. */
  until(condition: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** The time an event matching was emitted (it must have been). */
  timeOf<E extends keyof ClientEvents>(event: E, match: (data: ClientEvents[E]) => boolean = () => true): number {
    const r = this.events.find((e) => e.event === event && match(e.data as ClientEvents[E]));
    if (r === undefined) throw new Error(`no ${event} was emitted`);
    return r.at;
  }

  /** Every message this client was given: live MESSAGE_SENT events and INIT's missedMessages. */
  messagesReceived(): Array<{ id: string; content: string; clientMessageId: string | null }> {
    const out: Array<{ id: string; content: string; clientMessageId: string | null }> = [];
    for (const r of this.events) {
      if (r.event === 'MESSAGE_SENT') out.push(r.data.message);
      if (r.event === 'INIT') out.push(...(r.data.missedMessages ?? []));
    }
    return out;
  }
}

/** The clients a suite opened, so afterEach closes each. */
export class Clients {
  #open: MassengerClient[] = [];

  /** A client on the ws package with test-sized timings, recorded from its first event. */
  make(options: Omit<ClientOptions, 'WebSocket'> & Partial<Pick<ClientOptions, 'WebSocket'>>): { client: MassengerClient; rec: Recorder } {
    const client = new MassengerClient({ WebSocket, backoff: { baseMs: 50, maxMs: 500, rateLimitedMs: 1500 }, ...options });
    this.#open.push(client);
    return { client, rec: new Recorder(client) };
  }

  closeAll(): void {
    for (const c of this.#open.splice(0)) c.close();
  }
}
