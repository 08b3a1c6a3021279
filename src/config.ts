/**
 * Configuration from the environment (spec §4), checked once at start-up. Every limit is named
 * here with its default and unit. A wrong value is a ConfigError naming the variable; main.ts
 * prints its message as one line and exits.
 */
import { createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface Config {
  port: number;
  host: string;
  /** Unset: embedded PGlite in dataDir. */
  databaseUrl: string | null;
  dataDir: string;
  /** Unset: single node, in-memory bus and presence. */
  redisUrl: string | null;
  /** RS256 public key (PEM), HS256 secret, or neither (a development key pair in dataDir). */
  jwtPublicKey: string | null;
  jwtSecret: string | null;
  /** Unset: the private API accepts loopback requests only. */
  internalApiToken: string | null;
  /** When set, a token's `iss` must equal it (JWT_ISSUER). */
  jwtIssuer: string | null;
  /** When set, a token's `aud` must be or contain it (JWT_AUDIENCE). */
  jwtAudience: string | null;
  /** Seconds of clock skew allowed on a token's `nbf`; `exp` is exact. */
  jwtClockToleranceS: number;
  /** Port of a metrics-only listener; when set, `/metrics` is served there and not on PORT. */
  metricsPort: number | null;
  /** Where the metrics-only listener binds (METRICS_HOST, default HOST). */
  metricsHost: string;
  /** Unset: `/metrics` answers without a token. */
  metricsToken: string | null;
  /** Time an unauthenticated connection has to send AUTHENTICATE. */
  authTimeoutMs: number;
  /** Largest accepted frame; larger closes with 1009. */
  maxFrameBytes: number;
  /** Unsent bytes a connection may queue before it is closed with 4408; TYPING stops at half. */
  maxBufferedBytes: number;
  /** A connection whose unsent buffer stays above maxBufferedBytes without going down for this long is closed with 4408. */
  slowReaderGraceMs: number;
  /** Open WebSocket connections per node, signed in or not; more are refused at upgrade with 503. */
  maxConnections: number;
  /** Signed-in connections per user per node; more get ERROR RATE_LIMITED, then close 4429. */
  maxConnectionsPerUser: number;
  /** Token bucket per connection: frames per second refilled, and burst size. */
  rateLimitPerSec: number;
  rateLimitBurst: number;
  /** RATE_LIMITED answers in a row before the connection is closed with 4429. */
  rateLimitStrikes: number;
  /** Protocol ping interval; a peer that misses one is dropped. */
  heartbeatIntervalMs: number;
  /** PostgreSQL pool size, connect timeout and per-statement timeout. */
  dbPoolSize: number;
  dbConnectTimeoutMs: number;
  dbStatementTimeoutMs: number;
  /** Conversations whose member lists are cached, and for how long. */
  membersCacheSize: number;
  membersCacheTtlMs: number;
  /** How long shutdown lets requests in flight finish and clients answer the 1001 close before cutting them off. */
  shutdownTimeoutMs: number;
  /** Most messages stored in one transaction (group commit). */
  sendBatchMax: number;
  /** Most sends waiting to be stored on this node; more are answered UNAVAILABLE. */
  sendQueueMax: number;
  /** A send still waiting this long after its frame arrived is answered UNAVAILABLE, nothing stored. */
  sendQueueWaitMs: number;
  /** This node's id on the bus and in presence; unique per process. */
  nodeId: string;
  logLevel: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = text(env, name);
  if (v === null) return fallback;
  if (!/^[0-9]+$/.test(v.trim())) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(v)}`);
  const n = Number(v.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const v = text(env, name);
  if (v === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')}), got an unparsable value`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => p + '//').join(' or ')}`);
  }
  return v;
}

function publicKey(env: Env): string | null {
  const inline = text(env, 'JWT_PUBLIC_KEY');
  const file = text(env, 'JWT_PUBLIC_KEY_FILE');
  if (inline !== null && file !== null) throw new ConfigError('set JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE, not both');
  let pem = inline?.replace(/\\n/g, '\n') ?? null;
  if (file !== null) {
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`JWT_PUBLIC_KEY_FILE cannot be read: ${(err as Error).message}`);
    }
  }
  if (pem === null) return null;
  const name = file !== null ? 'JWT_PUBLIC_KEY_FILE' : 'JWT_PUBLIC_KEY';
  // Any PEM form of an RSA public key the main API may hand over (SPKI, PKCS#1, a certificate),
  // normalised to SPKI so the verifier has one form to import.
  let key;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError(`${name} must hold a PEM RSA public key (-----BEGIN PUBLIC KEY-----)`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ConfigError(`${name} must be an RSA key (RS256), not ${key.asymmetricKeyType ?? 'unknown'}`);
  // RFC 7518 §3.3: RS256 keys MUST have 2048 bits or more; a shorter one could never verify a token.
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new ConfigError(`${name} must be an RSA key of at least 2048 bits, not ${bits}`);
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

export function loadConfig(env: Env = process.env): Config {
  const jwtSecret = text(env, 'JWT_SECRET');
  if (jwtSecret !== null && (text(env, 'JWT_PUBLIC_KEY') !== null || text(env, 'JWT_PUBLIC_KEY_FILE') !== null)) {
    throw new ConfigError('set JWT_PUBLIC_KEY(_FILE) for RS256 or JWT_SECRET for HS256, not both');
  }
  const jwtPublicKey = publicKey(env);
  const maxBufferedBytes = int(env, 'MAX_BUFFERED_BYTES', 4 * 1024 * 1024, 1024, 1024 ** 3);
  const maxFrameBytes = int(env, 'MAX_FRAME_BYTES', 65536, 256, 64 * 1024 * 1024);
  const logLevel = text(env, 'LOG_LEVEL') ?? 'info';
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = text(env, 'HOST') ?? '0.0.0.0';
  const metricsPort = text(env, 'METRICS_PORT') === null ? null : int(env, 'METRICS_PORT', 0, 0, 65535);
  // Port 0 picks a free port for each listener, so only a fixed port can clash.
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError(`METRICS_PORT must differ from PORT (both are ${port}); leave METRICS_PORT unset to serve /metrics on PORT`);
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');
  }
  return {
    port,
    host,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: text(env, 'DATA_DIR') ?? './.massenger',
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    jwtPublicKey,
    jwtSecret,
    internalApiToken: text(env, 'INTERNAL_API_TOKEN'),
    jwtIssuer: text(env, 'JWT_ISSUER'),
    jwtAudience: text(env, 'JWT_AUDIENCE'),
    jwtClockToleranceS: int(env, 'JWT_CLOCK_TOLERANCE_S', 5, 0, 300),
    metricsPort,
    metricsHost: text(env, 'METRICS_HOST') ?? host,
    metricsToken: text(env, 'METRICS_TOKEN'),
    authTimeoutMs: int(env, 'AUTH_TIMEOUT_MS', 10000, 10, 3_600_000),
    maxFrameBytes,
    maxBufferedBytes,
    slowReaderGraceMs: int(env, 'SLOW_READER_GRACE_MS', 2000, 10, 600_000),
    maxConnections: int(env, 'MAX_CONNECTIONS', 50_000, 1, 10_000_000),
    maxConnectionsPerUser: int(env, 'MAX_CONNECTIONS_PER_USER', 20, 1, 100_000),
    rateLimitPerSec: int(env, 'RATE_LIMIT_PER_SEC', 100, 1, 1_000_000),
    rateLimitBurst: int(env, 'RATE_LIMIT_BURST', 200, 1, 1_000_000),
    rateLimitStrikes: int(env, 'RATE_LIMIT_STRIKES', 20, 1, 1_000_000),
    heartbeatIntervalMs: int(env, 'HEARTBEAT_INTERVAL_MS', 30000, 100, 3_600_000),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1, 1000),
    dbConnectTimeoutMs: int(env, 'DB_CONNECT_TIMEOUT_MS', 5000, 100, 600_000),
    dbStatementTimeoutMs: int(env, 'DB_STATEMENT_TIMEOUT_MS', 10000, 100, 3_600_000),
    membersCacheSize: int(env, 'MEMBERS_CACHE_SIZE', 10000, 0, 10_000_000),
    membersCacheTtlMs: int(env, 'MEMBERS_CACHE_TTL_MS', 60000, 0, 86_400_000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 0, 600_000),
    sendBatchMax: int(env, 'SEND_BATCH_MAX', 500, 1, 10_000),
    sendQueueMax: int(env, 'SEND_QUEUE_MAX', 20_000, 1, 10_000_000),
    sendQueueWaitMs: int(env, 'SEND_QUEUE_WAIT_MS', 2000, 10, 600_000),
    nodeId: text(env, 'NODE_ID') ?? randomUUID(),
    logLevel,
  };
}
