/**
 * The client's options, each with its default, checked once when the client is made so a wrong
 * value fails at once with its name rather than later as odd behaviour.
 */
import type { BackoffOptions } from './backoff.js';
import type { Id } from './frames.js';
import type { WebSocketConstructor } from './link.js';
import type { TokenSource } from './token.js';

export interface ClientOptions {
  /** A massenger node's WebSocket URL, e.g. `ws://localhost:8080/` (upgrades on `/` and `/socket`). */
  url: string;
  /**
   * The main API's JWT, or a function returning a fresh one. A function is called before each
   * connection when the last token is near its `exp`, after a 4401 close, and before `exp` to
   * refresh a live sign-in. A fixed token cannot be refreshed: when the server ends its sign-in
   * (4401) the client stops for good.
   */
  token: TokenSource;
  /**
   * The WebSocket constructor. Default `globalThis.WebSocket` (browsers, Node 22+); on Node 20 pass
   * the `ws` package's `WebSocket`.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * The highest message id an earlier session saw, to resume from it (e.g. kept in storage across
   * page loads). Default: none; the first INIT starts the count.
   */
  lastMessageId?: Id;
  /** Time from opening a socket to its INIT before it is abandoned. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** How often to PING a signed-in connection. Default 25000 ms. */
  heartbeatIntervalMs?: number;
  /** Time a PING has to be answered (by any frame) before the link is taken as dead. Default 10000 ms. */
  heartbeatTimeoutMs?: number;
  /** Time a request other than a send has to be answered, from the call. Default 15000 ms. */
  requestTimeoutMs?: number;
  /** How long before the token's `exp` to refresh (at most half of what is left). Default 60000 ms. */
  refreshBeforeExpMs?: number;
  /** Reconnect delays: exponential with jitter, and a floor after 4429. */
  backoff?: BackoffOptions;
  /** Sends written and not yet acknowledged, at most. Default 32. */
  maxSendsInFlight?: number;
  /** Messages whose latest version is remembered to drop repeats. Default 10000. */
  dedupeCapacity?: number;
  /** Largest frame the client writes; the server closes with 1009 above its MAX_FRAME_BYTES. Default 65536. */
  maxFrameBytes?: number;
}

export type Settings = Required<Omit<ClientOptions, 'lastMessageId' | 'backoff'>> & Pick<ClientOptions, 'lastMessageId' | 'backoff'>;

export function settings(options: ClientOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object with url and token');
  const { url, token } = options;
  if (typeof url !== 'string' || !/^wss?:\/\//i.test(url) || !parses(url)) throw new TypeError(`url must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
  if (typeof token !== 'function' && (typeof token !== 'string' || token === '')) {
    throw new TypeError('token must be a non-empty string or a function returning one');
  }
  const WebSocket = options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocket !== 'function') {
    throw new TypeError('no WebSocket implementation: pass options.WebSocket (on Node 20, the `ws` package\'s WebSocket)');
  }
  if (options.lastMessageId !== undefined && !/^[0-9]{1,19}$/.test(String(options.lastMessageId))) {
    throw new TypeError(`lastMessageId must be a decimal id, got ${JSON.stringify(options.lastMessageId)}`);
  }
  return {
    url,
    token,
    WebSocket,
    lastMessageId: options.lastMessageId === undefined ? undefined : String(options.lastMessageId),
    connectTimeoutMs: ms(options.connectTimeoutMs, 10_000, 'connectTimeoutMs'),
    heartbeatIntervalMs: ms(options.heartbeatIntervalMs, 25_000, 'heartbeatIntervalMs'),
    heartbeatTimeoutMs: ms(options.heartbeatTimeoutMs, 10_000, 'heartbeatTimeoutMs'),
    requestTimeoutMs: ms(options.requestTimeoutMs, 15_000, 'requestTimeoutMs'),
    refreshBeforeExpMs: ms(options.refreshBeforeExpMs, 60_000, 'refreshBeforeExpMs'),
    backoff: options.backoff,
    maxSendsInFlight: count(options.maxSendsInFlight, 32, 'maxSendsInFlight'),
    dedupeCapacity: count(options.dedupeCapacity, 10_000, 'dedupeCapacity'),
    maxFrameBytes: count(options.maxFrameBytes, 65_536, 'maxFrameBytes'),
  };
}

/** URL.canParse is too recent for some browsers still in use. */
function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

function ms(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
