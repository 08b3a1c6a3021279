import { createHmac, generateKeyPairSync, type KeyObject, sign as signBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, signDevToken } from '../../src/auth/jwt.js';
import { type Config, ConfigError, loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const now = () => Math.floor(Date.now() / 1000);

let rsa: { privateKey: KeyObject; publicKey: KeyObject };
let otherRsa: { privateKey: KeyObject; publicKey: KeyObject };
let publicPem: string;
const dirs: string[] = [];

beforeAll(() => {
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
});

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'massenger-jwt-'));
  dirs.push(dir);
  return dir;
}

function config(env: Record<string, string>): Config {
  return loadConfig({ DATA_DIR: '/nonexistent-massenger-test', ...env });
}

/**
 * Signs exactly `payload` under the header `{alg, ...header}`, adding and checking nothing, so a
 * test can hand the verifier any claim a main API might send: an RSA private key for RS*, a
 * secret's bytes for HS*.
 */
async function sign(payload: Record<string, unknown>, key: KeyObject | Uint8Array = rsa.privateKey, alg = 'RS256', header: object = {}): Promise<string> {
  const input = `${b64({ alg, ...header })}.${b64(payload)}`;
  const hash = `sha${alg.slice(2)}`;
  const signature = alg.startsWith('HS') ? createHmac(hash, key).update(input).digest() : signBytes(hash, Buffer.from(input), key as KeyObject);
  return `${input}.${signature.toString('base64url')}`;
}

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Asserts the promise rejects with UNAUTHENTICATED and a message matching `reason`. */
async function rejectsWith(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('UNAUTHENTICATED');
  expect((err as AppError).message).toMatch(reason);
}

describe('RS256 verifier', () => {
  const rs256 = () => createVerifier(config({ JWT_PUBLIC_KEY: publicPem }));

  it('accepts a valid token and reports its exp in ms', async () => {
    const exp = now() + 600;
    const result = await (await rs256()).verify(await sign({ sub: '42', exp }));
    expect(result).toEqual({ userId: '42', expiresAt: exp * 1000 });
  });

  it('normalises a numeric sub to a decimal string', async () => {
    const result = await (await rs256()).verify(await sign({ sub: 7, exp: now() + 60 }));
    expect(result.userId).toBe('7');
  });

  it('accepts a token without exp, with expiresAt null', async () => {
    expect(await (await rs256()).verify(await sign({ sub: '1' }))).toEqual({ userId: '1', expiresAt: null });
  });

  it('holds exp exactly (a sign-in ends then), but tolerates a few seconds of clock skew on nbf', async () => {
    await rejectsWith((await rs256()).verify(await sign({ sub: '1', exp: now() - 1 })), /expired/);
    await expect((await rs256()).verify(await sign({ sub: '1', nbf: now() + 2 }))).resolves.toMatchObject({ userId: '1' });
  });

  it('rejects a token signed by another key', async () => {
    await rejectsWith((await rs256()).verify(await sign({ sub: '1' }, otherRsa.privateKey)), /signature/);
  });

  it('rejects a tampered payload', async () => {
    const [header, , signature] = (await sign({ sub: '1' })).split('.');
    await rejectsWith((await rs256()).verify(`${header}.${b64({ sub: '2' })}.${signature}`), /signature/);
  });

  it('rejects an HS256 token, even one keyed with the public key itself', async () => {
    const token = await sign({ sub: '1' }, new TextEncoder().encode(publicPem), 'HS256');
    await rejectsWith((await rs256()).verify(token), /algorithm must be RS256/);
  });

  it('rejects alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: '1' })}.`;
    await rejectsWith((await rs256()).verify(token), /algorithm must be RS256/);
  });

  it('rejects an expired token', async () => {
    await rejectsWith((await rs256()).verify(await sign({ sub: '1', exp: now() - 60 })), /expired/);
  });

  it('rejects a token not valid yet', async () => {
    await rejectsWith((await rs256()).verify(await sign({ sub: '1', nbf: now() + 600 })), /nbf/);
  });

  it('rejects a missing sub', async () => {
    await rejectsWith((await rs256()).verify(await sign({ exp: now() + 60 })), /no sub/);
  });

  it.each(['abc', '0', '-1', '1.5', '01', ' 1', '99999999999999999999', ''])('rejects sub %j', async (sub) => {
    await rejectsWith((await rs256()).verify(await sign({ sub })), /sub is not a user id/);
  });

  it.each([0, -3, 1.5, 2 ** 60])('rejects numeric sub %d', async (sub) => {
    await rejectsWith((await rs256()).verify(await sign({ sub: sub })), /sub is not a user id/);
  });

  it('accepts the largest bigint id as sub, as a string', async () => {
    expect((await (await rs256()).verify(await sign({ sub: '9223372036854775807' }))).userId).toBe('9223372036854775807');
    expect((await (await rs256()).verify(await sign({ sub: Number.MAX_SAFE_INTEGER }))).userId).toBe(String(Number.MAX_SAFE_INTEGER));
  });

  // Canonical ids only (README "Tokens"): one spelling per user, so no token names an id that
  // another spelling of it would not.
  it.each(['+1', '1e3', '0x1', '１', '٣', '42\n', '4 2', '9223372036854775808', '1'.repeat(400)])('rejects non-canonical sub %j', async (sub) => {
    await rejectsWith((await rs256()).verify(await sign({ sub })), /sub is not a user id/);
  });

  it.each<[string, unknown]>([
    ['true', true],
    ['null', null],
    ['an array', ['1']],
    ['an object', { id: '1' }],
    ['2^53', 2 ** 53],
  ])('rejects a sub that is %s', async (_label, sub) => {
    await rejectsWith((await rs256()).verify(await sign({ sub })), /sub is not a user id|no sub/);
  });

  it('rejects garbage', async () => {
    await rejectsWith((await rs256()).verify('not.a.jwt'), /malformed|invalid/);
    await rejectsWith((await rs256()).verify(''), /missing/);
  });
});

describe('refusal reasons', () => {
  const rs256 = () => createVerifier(config({ JWT_PUBLIC_KEY: publicPem }));
  const signed = async (payload: Record<string, unknown>) => (await sign(payload)).split('.');

  // Each reason exactly, since clients show them; a token wrong in one way only.
  it.each<[string, () => Promise<string>, string]>([
    ['an empty token', async () => '', 'token is missing'],
    ['two segments', async () => 'a.b', 'token is malformed'],
    ['a header without alg', async () => `${b64({ typ: 'JWT' })}.${b64({ sub: '1' })}.c2ln`, 'token is malformed'],
    ['a critical header extension', async () => sign({ sub: '1' }, rsa.privateKey, 'RS256', { crit: ['exp'], exp: 1 }), 'token is malformed'],
    ['a payload that is not a JSON object', async () => sign([1] as unknown as Record<string, unknown>), 'token is malformed'],
    ['a signature outside base64url', async () => `${(await sign({ sub: '1' })).slice(0, -4)}+/==`, 'token is malformed'],
    ['no signature', async () => `${(await signed({ sub: '1' })).slice(0, 2).join('.')}.`, 'token signature is invalid'],
    ['a signature by another key', async () => sign({ sub: '1' }, otherRsa.privateKey), 'token signature is invalid'],
    ['alg none', async () => `${b64({ alg: 'none' })}.${b64({ sub: '1' })}.`, 'token algorithm must be RS256'],
    ['RS512', async () => sign({ sub: '1' }, rsa.privateKey, 'RS512'), 'token algorithm must be RS256'],
    ['HS256 over a payload that is not JSON', async () => `${b64({ alg: 'HS256' })}.bm9wZQ.c2ln`, 'token algorithm must be RS256'],
    ['exp passed', async () => sign({ sub: '1', exp: now() - 1 }), 'token has expired'],
    ['exp not a number', async () => sign({ sub: '1', exp: String(now() + 60) }), 'token claim exp is invalid (invalid)'],
    ['nbf beyond the tolerance', async () => sign({ sub: '1', nbf: now() + 60 }), 'token claim nbf is invalid (check_failed)'],
    ['nbf not a number', async () => sign({ sub: '1', nbf: 'now' }), 'token claim nbf is invalid (invalid)'],
    ['iat not a number', async () => sign({ sub: '1', iat: 'now' }), 'token claim iat is invalid (invalid)'],
    ['no sub', async () => sign({ exp: now() + 60 }), 'token has no sub claim'],
    ['a sub that is not an id', async () => sign({ sub: 'alice' }), 'token sub is not a user id'],
  ])('%s', async (_label, token, reason) => {
    const err = await (await rs256()).verify(await token()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', message: reason });
  });

  it('names the configured algorithm to an HS256 node: RS256 and alg none are refused', async () => {
    const hs256 = await createVerifier(config({ JWT_SECRET: SECRET }));
    await rejectsWith(hs256.verify(await sign({ sub: '1' })), /^token algorithm must be HS256$/);
    await rejectsWith(hs256.verify(`${b64({ alg: 'none' })}.${b64({ sub: '1' })}.`), /^token algorithm must be HS256$/);
  });

  it('verifies on the event loop: the promise has settled when verify returns (no thread-pool round trip)', async () => {
    const verifier = await rs256();
    const token = await sign({ sub: '1', exp: now() + 60 });
    let settled = false;
    void verifier.verify(token).then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(true);
  });
});

describe('JWT_ISSUER and JWT_AUDIENCE', () => {
  const verifier = (env: Record<string, string>) => createVerifier(config({ JWT_PUBLIC_KEY: publicPem, ...env }));

  it('are not checked when unset', async () => {
    expect((await (await verifier({})).verify(await sign({ sub: '1', iss: 'anyone', aud: 'anything' }))).userId).toBe('1');
  });

  it('JWT_ISSUER: accepts that iss, refuses another or none', async () => {
    const v = await verifier({ JWT_ISSUER: 'https://main-api.example' });
    expect((await v.verify(await sign({ sub: '1', iss: 'https://main-api.example' }))).userId).toBe('1');
    await rejectsWith(v.verify(await sign({ sub: '1', iss: 'https://evil.example' })), /^token issuer \(iss\) is not accepted$/);
    await rejectsWith(v.verify(await sign({ sub: '1' })), /^token has no iss claim$/);
  });

  it('JWT_AUDIENCE: accepts an aud that is or contains it, refuses another or none', async () => {
    const v = await verifier({ JWT_AUDIENCE: 'massenger' });
    expect((await v.verify(await sign({ sub: '1', aud: 'massenger' }))).userId).toBe('1');
    expect((await v.verify(await sign({ sub: '1', aud: ['main-api', 'massenger'] }))).userId).toBe('1');
    expect((await v.verify(await sign({ sub: '1', aud: [7, 'massenger'] }))).userId).toBe('1');
    await rejectsWith(v.verify(await sign({ sub: '1', aud: 'main-api' })), /^token audience \(aud\) is not accepted$/);
    await rejectsWith(v.verify(await sign({ sub: '1', aud: ['main-api'] })), /^token audience \(aud\) is not accepted$/);
    await rejectsWith(v.verify(await sign({ sub: '1' })), /^token has no aud claim$/);
  });

  it('are both checked when both are set', async () => {
    const v = await verifier({ JWT_ISSUER: 'main-api', JWT_AUDIENCE: 'massenger' });
    expect((await v.verify(await sign({ sub: '1', iss: 'main-api', aud: 'massenger' }))).userId).toBe('1');
    await rejectsWith(v.verify(await sign({ sub: '1', iss: 'main-api', aud: 'other' })), /aud/);
    await rejectsWith(v.verify(await sign({ sub: '1', iss: 'other', aud: 'massenger' })), /iss/);
  });
});

describe('JWT_CLOCK_TOLERANCE_S', () => {
  const verifier = (env: Record<string, string> = {}) => createVerifier(config({ JWT_PUBLIC_KEY: publicPem, ...env }));

  it('allows 5 s of skew on nbf by default', async () => {
    await expect((await verifier()).verify(await sign({ sub: '1', nbf: now() + 3 }))).resolves.toMatchObject({ userId: '1' });
    await rejectsWith((await verifier()).verify(await sign({ sub: '1', nbf: now() + 30 })), /nbf/);
  });

  it('allows the configured skew on nbf, and none with 0', async () => {
    await expect((await verifier({ JWT_CLOCK_TOLERANCE_S: '60' })).verify(await sign({ sub: '1', nbf: now() + 30 }))).resolves.toMatchObject({ userId: '1' });
    await rejectsWith((await verifier({ JWT_CLOCK_TOLERANCE_S: '0' })).verify(await sign({ sub: '1', nbf: now() + 3 })), /nbf/);
  });

  it('never stretches exp: a sign-in ends at exp whatever the tolerance', async () => {
    await rejectsWith((await verifier({ JWT_CLOCK_TOLERANCE_S: '300' })).verify(await sign({ sub: '1', exp: now() - 1 })), /expired/);
  });
});

describe('HS256 verifier', () => {
  const hs256 = () => createVerifier(config({ JWT_SECRET: SECRET }));
  const secret = new TextEncoder().encode(SECRET);

  it('accepts a token signed with the secret', async () => {
    const token = await sign({ sub: '5', exp: now() + 60 }, secret, 'HS256');
    expect((await (await hs256()).verify(token)).userId).toBe('5');
  });

  it('accepts a short secret the main API chose, and warns once at start-up', async () => {
    const warnings: string[] = [];
    const verifier = await createVerifier(config({ JWT_SECRET: 'short' }), { warn: (m) => warnings.push(m) });
    const token = await sign({ sub: '5', exp: now() + 60 }, new TextEncoder().encode('short'), 'HS256');
    expect((await verifier.verify(token)).userId).toBe('5');
    expect(warnings).toEqual([expect.stringMatching(/JWT_SECRET is shorter than 32 bytes/)]);
  });

  it('rejects another secret', async () => {
    const token = await sign({ sub: '5' }, new TextEncoder().encode(SECRET + 'x'), 'HS256');
    await rejectsWith((await hs256()).verify(token), /signature/);
  });

  it('rejects an RS256 token', async () => {
    await rejectsWith((await hs256()).verify(await sign({ sub: '5' })), /algorithm must be HS256/);
  });

  it('round-trips signDevToken', async () => {
    const cfg = config({ JWT_SECRET: SECRET });
    const result = await (await createVerifier(cfg)).verify(await signDevToken(cfg, '9', 60));
    expect(result.userId).toBe('9');
    expect(result.expiresAt).toBeGreaterThan(Date.now() + 55_000);
  });
});

describe('development key pair', () => {
  it('is generated once, private key 0600, reused on later starts, with one warning each', async () => {
    const dataDir = await tempDataDir();
    const cfg = config({ DATA_DIR: dataDir });
    const warnings: string[] = [];
    const log = { warn: (msg: string) => warnings.push(msg) };

    await createVerifier(cfg, log);
    const keysDir = path.join(dataDir, 'dev-keys');
    const privatePem = await readFile(path.join(keysDir, 'private.pem'), 'utf8');
    const firstPublic = await readFile(path.join(keysDir, 'public.pem'), 'utf8');
    expect(privatePem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(firstPublic).toContain('-----BEGIN PUBLIC KEY-----');
    expect((await stat(path.join(keysDir, 'private.pem'))).mode & 0o777).toBe(0o600);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(keysDir);
    expect(warnings[0]).toMatch(/JWT_PUBLIC_KEY or JWT_SECRET/);

    await createVerifier(cfg, log);
    expect(await readFile(path.join(keysDir, 'private.pem'), 'utf8')).toBe(privatePem);
    expect(await readFile(path.join(keysDir, 'public.pem'), 'utf8')).toBe(firstPublic);
    expect(warnings).toHaveLength(2);
  });

  it('yields one key pair when several nodes start at once', async () => {
    const cfg = config({ DATA_DIR: await tempDataDir() });
    const verifiers = await Promise.all([1, 2, 3].map(() => createVerifier(cfg)));
    const token = await signDevToken(cfg, '3');
    for (const v of verifiers) expect((await v.verify(token)).userId).toBe('3');
  });

  it('signDevToken generates the pair when missing and round-trips through createVerifier', async () => {
    const cfg = config({ DATA_DIR: await tempDataDir() });
    const token = await signDevToken(cfg, '12345');
    const result = await (await createVerifier(cfg)).verify(token);
    expect(result.userId).toBe('12345');
    expect(result.expiresAt).toBeGreaterThan(Date.now() + 86_000_000);
  });

  it('tokens from one DATA_DIR are refused by a node with another', async () => {
    const token = await signDevToken(config({ DATA_DIR: await tempDataDir() }), '1');
    await rejectsWith((await createVerifier(config({ DATA_DIR: await tempDataDir() }))).verify(token), /signature/);
  });
});

describe('signDevToken', () => {
  it('refuses to sign when only a public key is configured', async () => {
    await expect(signDevToken(config({ JWT_PUBLIC_KEY: publicPem }), '1')).rejects.toThrow(ConfigError);
    await expect(signDevToken(config({ JWT_PUBLIC_KEY: publicPem }), '1')).rejects.toThrow(/main API/);
  });

  it('refuses bad arguments', async () => {
    const cfg = config({ JWT_SECRET: SECRET });
    await expect(signDevToken(cfg, 'bob')).rejects.toThrow(RangeError);
    await expect(signDevToken(cfg, '1', 0)).rejects.toThrow(RangeError);
  });
});
