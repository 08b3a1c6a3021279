/** loadConfig (spec §4): names, defaults, and one ConfigError naming the variable per bad value. */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const SECRET = 'a'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'massenger-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe('loadConfig defaults', () => {
  it('gives spec §4 defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      databaseUrl: null,
      dataDir: './.massenger',
      redisUrl: null,
      jwtPublicKey: null,
      jwtSecret: null,
      internalApiToken: null,
      authTimeoutMs: 10000,
      maxFrameBytes: 65536,
      maxBufferedBytes: 4 * 1024 * 1024,
      logLevel: 'info',
    });
    expect(config.nodeId).toMatch(/^[0-9a-f-]{36}$/);
    // Unique per process: two nodes on one Redis must never share an id.
    expect(loadConfig({}).nodeId).not.toBe(config.nodeId);
  });

  it('treats empty and blank variables as unset', () => {
    const blank = Object.fromEntries(
      ['PORT', 'HOST', 'DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_FILE', 'JWT_SECRET', 'INTERNAL_API_TOKEN', 'AUTH_TIMEOUT_MS', 'MAX_FRAME_BYTES', 'MAX_BUFFERED_BYTES', 'LOG_LEVEL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_CLOCK_TOLERANCE_S', 'METRICS_PORT', 'METRICS_HOST', 'METRICS_TOKEN'].map(
        (name, i) => [name, i % 2 === 0 ? '' : '   '],
      ),
    );
    const { nodeId: _a, ...fromBlank } = loadConfig(blank);
    const { nodeId: _b, ...fromEmpty } = loadConfig({});
    expect(fromBlank).toEqual(fromEmpty);
  });
});

describe('loadConfig reads', () => {
  it('every spec §4 variable', () => {
    const config = loadConfig({
      PORT: '9001',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://u:p@db.example:5432/app',
      DATA_DIR: '/var/lib/massenger',
      REDIS_URL: 'redis://cache.example:6379/2',
      JWT_PUBLIC_KEY: PEM,
      INTERNAL_API_TOKEN: 'private-token',
      AUTH_TIMEOUT_MS: '2500',
      MAX_FRAME_BYTES: '1024',
      MAX_BUFFERED_BYTES: '2048',
      LOG_LEVEL: 'warn',
      NODE_ID: 'node-a',
    });
    expect(config).toMatchObject({
      port: 9001,
      host: '127.0.0.1',
      databaseUrl: 'postgres://u:p@db.example:5432/app',
      dataDir: '/var/lib/massenger',
      redisUrl: 'redis://cache.example:6379/2',
      jwtPublicKey: PEM,
      jwtSecret: null,
      internalApiToken: 'private-token',
      authTimeoutMs: 2500,
      maxFrameBytes: 1024,
      maxBufferedBytes: 2048,
      logLevel: 'warn',
      nodeId: 'node-a',
    });
  });

  it('postgresql:// and rediss:// URLs, and PORT 0 (any free port)', () => {
    expect(loadConfig({ DATABASE_URL: 'postgresql://localhost/x' }).databaseUrl).toBe('postgresql://localhost/x');
    expect(loadConfig({ REDIS_URL: 'rediss://cache.example' }).redisUrl).toBe('rediss://cache.example');
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: ' 8081 ' }).port).toBe(8081);
  });

  it('JWT_SECRET for HS256, short ones too (the main API chose it; start-up warns)', () => {
    expect(loadConfig({ JWT_SECRET: SECRET })).toMatchObject({ jwtSecret: SECRET, jwtPublicKey: null });
    expect(loadConfig({ JWT_SECRET: 'short' })).toMatchObject({ jwtSecret: 'short' });
  });

  it('JWT_PUBLIC_KEY with \\n escapes, as one-line env files hold it', () => {
    const oneLine = PEM.trimEnd().replace(/\n/g, '\\n');
    expect(oneLine).not.toContain('\n');
    expect(loadConfig({ JWT_PUBLIC_KEY: oneLine }).jwtPublicKey?.trimEnd()).toBe(PEM.trimEnd());
  });

  it('JWT_PUBLIC_KEY in PKCS#1 form (-----BEGIN RSA PUBLIC KEY-----), normalised to SPKI', () => {
    const pkcs1 = createPublicKey(PEM).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('BEGIN RSA PUBLIC KEY');
    expect(loadConfig({ JWT_PUBLIC_KEY: pkcs1 }).jwtPublicKey?.trimEnd()).toBe(PEM.trimEnd());
  });

  it('refuses a key that is not RSA, naming the variable', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => loadConfig({ JWT_PUBLIC_KEY: ec })).toThrow(/JWT_PUBLIC_KEY must be an RSA key/);
  });

  it('refuses an RSA key under 2048 bits (RFC 7518 §3.3), naming the variable', () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => loadConfig({ JWT_PUBLIC_KEY: short })).toThrow(/^JWT_PUBLIC_KEY must be an RSA key of at least 2048 bits, not 1024$/);
  });

  it('token checks: JWT_ISSUER and JWT_AUDIENCE unset by default, JWT_CLOCK_TOLERANCE_S 5 s', () => {
    expect(loadConfig({})).toMatchObject({ jwtIssuer: null, jwtAudience: null, jwtClockToleranceS: 5 });
    expect(loadConfig({ JWT_ISSUER: 'https://main-api.example', JWT_AUDIENCE: 'massenger', JWT_CLOCK_TOLERANCE_S: '0' })).toMatchObject({
      jwtIssuer: 'https://main-api.example',
      jwtAudience: 'massenger',
      jwtClockToleranceS: 0,
    });
    expect(loadConfig({ JWT_CLOCK_TOLERANCE_S: '300' }).jwtClockToleranceS).toBe(300);
  });

  it('metrics: on PORT without a token by default; METRICS_PORT, METRICS_HOST (default HOST) and METRICS_TOKEN', () => {
    expect(loadConfig({})).toMatchObject({ metricsPort: null, metricsHost: '0.0.0.0', metricsToken: null });
    expect(loadConfig({ HOST: '10.0.0.5', METRICS_PORT: '9100' })).toMatchObject({ metricsPort: 9100, metricsHost: '10.0.0.5' });
    expect(loadConfig({ METRICS_PORT: '9100', METRICS_HOST: '127.0.0.1', METRICS_TOKEN: 'scrape' })).toMatchObject({
      metricsPort: 9100,
      metricsHost: '127.0.0.1',
      metricsToken: 'scrape',
    });
    // Port 0 is a free port for each listener, so both may say 0.
    expect(loadConfig({ PORT: '0', METRICS_PORT: '0' })).toMatchObject({ port: 0, metricsPort: 0 });
  });

  it('JWT_PUBLIC_KEY_FILE', () => {
    const file = join(dir, 'public.pem');
    writeFileSync(file, PEM);
    expect(loadConfig({ JWT_PUBLIC_KEY_FILE: file }).jwtPublicKey).toBe(PEM);
  });
});

describe('loadConfig refuses', () => {
  const notPem = join(dir, 'not-a-key.txt');
  writeFileSync(notPem, 'hello');

  it.each<[string, Record<string, string>, string[]]>([
    ['PORT=abc', { PORT: 'abc' }, ['PORT']],
    ['PORT=-1', { PORT: '-1' }, ['PORT']],
    ['PORT=65536', { PORT: '65536' }, ['PORT']],
    ['PORT=80.5', { PORT: '80.5' }, ['PORT']],
    ['PORT=1e3', { PORT: '1e3' }, ['PORT']],
    ['AUTH_TIMEOUT_MS=soon', { AUTH_TIMEOUT_MS: 'soon' }, ['AUTH_TIMEOUT_MS']],
    ['AUTH_TIMEOUT_MS=0', { AUTH_TIMEOUT_MS: '0' }, ['AUTH_TIMEOUT_MS']],
    ['MAX_FRAME_BYTES=64k', { MAX_FRAME_BYTES: '64k' }, ['MAX_FRAME_BYTES']],
    ['MAX_FRAME_BYTES=0', { MAX_FRAME_BYTES: '0' }, ['MAX_FRAME_BYTES']],
    ['MAX_BUFFERED_BYTES=4MiB', { MAX_BUFFERED_BYTES: '4MiB' }, ['MAX_BUFFERED_BYTES']],
    ['MAX_BUFFERED_BYTES=1', { MAX_BUFFERED_BYTES: '1' }, ['MAX_BUFFERED_BYTES']],
    ['RATE_LIMIT_PER_SEC=0', { RATE_LIMIT_PER_SEC: '0' }, ['RATE_LIMIT_PER_SEC']],
    ['RATE_LIMIT_BURST=many', { RATE_LIMIT_BURST: 'many' }, ['RATE_LIMIT_BURST']],
    ['RATE_LIMIT_STRIKES=0', { RATE_LIMIT_STRIKES: '0' }, ['RATE_LIMIT_STRIKES']],
    ['HEARTBEAT_INTERVAL_MS=1', { HEARTBEAT_INTERVAL_MS: '1' }, ['HEARTBEAT_INTERVAL_MS']],
    ['DB_POOL_SIZE=0', { DB_POOL_SIZE: '0' }, ['DB_POOL_SIZE']],
    ['DB_CONNECT_TIMEOUT_MS=x', { DB_CONNECT_TIMEOUT_MS: 'x' }, ['DB_CONNECT_TIMEOUT_MS']],
    ['DB_STATEMENT_TIMEOUT_MS=x', { DB_STATEMENT_TIMEOUT_MS: 'x' }, ['DB_STATEMENT_TIMEOUT_MS']],
    ['MEMBERS_CACHE_SIZE=-5', { MEMBERS_CACHE_SIZE: '-5' }, ['MEMBERS_CACHE_SIZE']],
    ['MEMBERS_CACHE_TTL_MS=x', { MEMBERS_CACHE_TTL_MS: 'x' }, ['MEMBERS_CACHE_TTL_MS']],
    ['SHUTDOWN_TIMEOUT_MS=x', { SHUTDOWN_TIMEOUT_MS: 'x' }, ['SHUTDOWN_TIMEOUT_MS']],
    ['DATABASE_URL=mysql://x', { DATABASE_URL: 'mysql://x' }, ['DATABASE_URL']],
    ['DATABASE_URL not a URL', { DATABASE_URL: 'localhost:5432' }, ['DATABASE_URL']],
    ['REDIS_URL=http://x', { REDIS_URL: 'http://x' }, ['REDIS_URL']],
    ['REDIS_URL not a URL', { REDIS_URL: 'cache:6379' }, ['REDIS_URL']],
    ['JWT_PUBLIC_KEY not PEM', { JWT_PUBLIC_KEY: 'ssh-rsa AAAA' }, ['JWT_PUBLIC_KEY']],
    ['JWT_PUBLIC_KEY_FILE missing', { JWT_PUBLIC_KEY_FILE: join(dir, 'missing.pem') }, ['JWT_PUBLIC_KEY_FILE']],
    ['JWT_PUBLIC_KEY_FILE not PEM', { JWT_PUBLIC_KEY_FILE: notPem }, ['JWT_PUBLIC_KEY_FILE']],
    ['JWT_PUBLIC_KEY and JWT_PUBLIC_KEY_FILE', { JWT_PUBLIC_KEY: PEM, JWT_PUBLIC_KEY_FILE: notPem }, ['JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_FILE']],
    ['JWT_PUBLIC_KEY and JWT_SECRET', { JWT_PUBLIC_KEY: PEM, JWT_SECRET: SECRET }, ['JWT_PUBLIC_KEY', 'JWT_SECRET']],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, ['LOG_LEVEL']],
    ['JWT_CLOCK_TOLERANCE_S=5s', { JWT_CLOCK_TOLERANCE_S: '5s' }, ['JWT_CLOCK_TOLERANCE_S']],
    ['JWT_CLOCK_TOLERANCE_S=301', { JWT_CLOCK_TOLERANCE_S: '301' }, ['JWT_CLOCK_TOLERANCE_S']],
    ['METRICS_PORT=x', { METRICS_PORT: 'x' }, ['METRICS_PORT']],
    ['METRICS_PORT=65536', { METRICS_PORT: '65536' }, ['METRICS_PORT']],
    ['METRICS_PORT equal to PORT', { PORT: '9000', METRICS_PORT: '9000' }, ['METRICS_PORT', 'PORT']],
    ['METRICS_PORT equal to the default PORT', { METRICS_PORT: '8080' }, ['METRICS_PORT', 'PORT']],
  ])('%s with a one-line ConfigError naming the variable', (_label, env, names) => {
    const err = configError(env);
    for (const n of names) expect(err.message).toContain(n);
    expect(err.message).not.toContain('\n');
    expect(err.name).toBe('ConfigError');
  });

  it('without echoing a secret back', () => {
    expect(configError({ JWT_SECRET: 'tiny-secret', JWT_PUBLIC_KEY: PEM }).message).not.toContain('tiny-secret');
    expect(configError({ DATABASE_URL: 'mysql://root:hunter2@db' }).message).not.toContain('hunter2');
    expect(configError({ METRICS_TOKEN: 'scrape-secret', METRICS_PORT: 'x' }).message).not.toContain('scrape-secret');
  });
});
