/**
 * JWT sign-in (spec §2.1 AUTHENTICATE, §3 Bearer tokens, §4 JWT_*). The main API issues the tokens;
 * we only verify them, with exactly one configured algorithm: RS256 with JWT_PUBLIC_KEY, or HS256
 * with JWT_SECRET. With neither set, a development key pair is generated once in DATA_DIR so a
 * single node runs out of the box, and `npm run token` can sign tokens for it.
 */
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errors as joseErrors, exportPKCS8, generateKeyPair, importPKCS8, importSPKI, jwtVerify, SignJWT } from 'jose';
import { type Config, ConfigError } from '../config.js';
import { AppError } from '../errors.js';

/** A signed-in identity taken from a verified token. */
export interface VerifiedToken {
  /** The `sub` claim as a decimal string (spec §2: ids are decimal strings). */
  userId: string;
  /**
   * The `exp` claim in ms since the epoch, or null when the token has none. Tokens without `exp`
   * are accepted because the main API's older tokens carry none; such a sign-in then lasts until
   * the connection closes (spec §2.3 ties a sign-in to `exp` only when there is one).
   */
  expiresAt: number | null;
}

/** Verifies the main API's tokens. */
export interface TokenVerifier {
  /**
   * Resolves with the token's user, or rejects with `AppError('UNAUTHENTICATED')` whose message
   * says why: bad signature, algorithm other than the configured one, expired, `nbf` in the
   * future (beyond JWT_CLOCK_TOLERANCE_S), `iss` or `aud` other than JWT_ISSUER or
   * JWT_AUDIENCE when those are set, or `sub` missing or not a canonical id (see `canonicalId`).
   * It does not look the user up: the main API issued the token, and owns its users.
   */
  verify(token: string): Promise<VerifiedToken>;
}

/** Ids are PostgreSQL bigints (spec §4 schema): at most 2^63 - 1. */
const MAX_ID = 2n ** 63n - 1n;
const DEV_KEYS_DIR = 'dev-keys';

type Alg = 'RS256' | 'HS256';
type Key = Awaited<ReturnType<typeof importSPKI>>;

/**
 * Builds the verifier for the configured algorithm. With neither JWT_PUBLIC_KEY nor JWT_SECRET,
 * uses (creating on first start) the development key pair in `${dataDir}/dev-keys/` and warns
 * through `log`, since such tokens are only as secret as that directory.
 */
export async function createVerifier(config: Config, log?: { warn(msg: string): void }): Promise<TokenVerifier> {
  let alg: Alg;
  let key: Key;
  if (config.jwtSecret !== null) {
    alg = 'HS256';
    const secret = new TextEncoder().encode(config.jwtSecret);
    // RFC 7518 §3.2: an HS256 key should be at least 256 bits. The main API chose it, so it is
    // accepted, but an operator should hear that it is guessable.
    if (secret.byteLength < 32) log?.warn('JWT_SECRET is shorter than 32 bytes: HS256 tokens signed with it can be forged by brute force');
    // Imported once: given the raw bytes, jose imports them again for every token (about 60 µs of
    // the event loop's time per sign-in, measured with 4,000 tokens).
    key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  } else if (config.jwtPublicKey !== null) {
    alg = 'RS256';
    key = await importSPKI(config.jwtPublicKey, 'RS256');
  } else {
    const keys = await devKeyPair(config.dataDir);
    alg = 'RS256';
    key = await importSPKI(keys.publicPem, 'RS256');
    log?.warn(`development key pair in ${keys.dir}; set JWT_PUBLIC_KEY or JWT_SECRET in production`);
  }
  // `algorithms` pins the one configured algorithm: an HS256 token signed with the RSA public key
  // as secret, or `alg: none`, is refused (the classic confusion attacks). `issuer` and `audience`
  // are checked only when configured; jose refuses a token that then lacks the claim.
  const options = {
    algorithms: [alg],
    clockTolerance: config.jwtClockToleranceS,
    ...(config.jwtIssuer === null ? {} : { issuer: config.jwtIssuer }),
    ...(config.jwtAudience === null ? {} : { audience: config.jwtAudience }),
  };
  return {
    async verify(token) {
      if (typeof token !== 'string' || token === '') throw new AppError('UNAUTHENTICATED', 'token is missing');
      let payload: { sub?: unknown; exp?: number };
      try {
        ({ payload } = await jwtVerify(token, key, options));
      } catch (err) {
        throw new AppError('UNAUTHENTICATED', reasonFor(err, alg), { cause: err });
      }
      const userId = canonicalId(payload.sub);
      if (userId === null) {
        throw new AppError('UNAUTHENTICATED', payload.sub === undefined ? 'token has no sub claim' : 'token sub is not a user id');
      }
      const expiresAt = payload.exp === undefined ? null : payload.exp * 1000;
      // The tolerance is for `nbf` (a main API whose clock runs ahead); `exp` is exact, as the
      // connection's sign-in ends exactly then (spec §2.3), so jose's tolerant check is tightened here.
      if (expiresAt !== null && expiresAt <= Date.now()) throw new AppError('UNAUTHENTICATED', 'token has expired');
      return { userId, expiresAt };
    },
  };
}

/**
 * Signs a token for `userId` that this node's verifier accepts, for development and tests:
 * HS256 with JWT_SECRET when set, else RS256 with the development private key (generated if
 * missing). Throws a ConfigError when only JWT_PUBLIC_KEY is set, since the private key then
 * belongs to the main API.
 */
export async function signDevToken(config: Config, userId: string, ttlSeconds = 86400): Promise<string> {
  if (canonicalId(userId) !== userId) throw new RangeError(`userId must be a positive decimal id, got ${JSON.stringify(userId)}`);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`ttlSeconds must be a positive whole number, got ${ttlSeconds}`);
  let alg: Alg;
  let key: Awaited<ReturnType<typeof importPKCS8>> | Uint8Array;
  if (config.jwtSecret !== null) {
    alg = 'HS256';
    key = new TextEncoder().encode(config.jwtSecret);
  } else if (config.jwtPublicKey !== null) {
    throw new ConfigError('JWT_PUBLIC_KEY is set: tokens must come from the main API, which holds the private key');
  } else {
    alg = 'RS256';
    key = await importPKCS8((await devKeyPair(config.dataDir)).privatePem, 'RS256');
  }
  return new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key);
}

/**
 * `sub` as a user id, or null unless it is canonical: spec §2 ids are decimal strings, and the
 * users table keys them by bigint, so a string must be the digits of a positive bigint with no
 * sign, leading zero, space or exponent ("42", not "042", "+42", "4.2e1" or "42 "), so that one
 * user has exactly one spelling and a token never signs in an id that another spelling of it
 * would not. An integer JSON number is accepted too (tokens the main API signed with a numeric
 * id) when it is a safe integer, since larger numbers have already lost digits when parsed.
 */
function canonicalId(sub: unknown): string | null {
  if (typeof sub === 'number') return Number.isSafeInteger(sub) && sub > 0 ? String(sub) : null;
  if (typeof sub !== 'string' || !/^[1-9][0-9]{0,18}$/.test(sub)) return null;
  return BigInt(sub) <= MAX_ID ? sub : null;
}

/** A reason a client can act on; jose's own messages name its internals. */
function reasonFor(err: unknown, alg: Alg): string {
  if (err instanceof joseErrors.JWTExpired) return 'token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return `token has no ${err.claim} claim`;
    if (err.claim === 'iss') return 'token issuer (iss) is not accepted';
    if (err.claim === 'aud') return 'token audience (aud) is not accepted';
    return `token claim ${err.claim} is invalid (${err.reason})`;
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return `token algorithm must be ${alg}`;
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'token is malformed';
  return 'token is invalid';
}

interface DevKeyPair {
  dir: string;
  privatePem: string;
  publicPem: string;
}

/**
 * The development key pair in `${dataDir}/dev-keys/`, generated on first use. private.pem is the
 * source of truth and public.pem is derived from it, for handing to the main API. Several nodes
 * may start on one DATA_DIR at once, so private.pem appears atomically: written to a temporary
 * file, then hard-linked into place, which fails for every node but the first; the others use the
 * winner's key.
 */
async function devKeyPair(dataDir: string): Promise<DevKeyPair> {
  const dir = path.resolve(dataDir, DEV_KEYS_DIR);
  const privatePath = path.join(dir, 'private.pem');
  const publicPath = path.join(dir, 'public.pem');
  let privatePem = await readIfExists(privatePath);
  if (privatePem === null) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const tmp = `${privatePath}.${randomUUID()}.tmp`;
    await writeFile(tmp, await exportPKCS8(privateKey), { mode: 0o600 });
    try {
      await link(tmp, privatePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp);
    }
    privatePem = await readFile(privatePath, 'utf8');
  }
  let publicPem: string;
  try {
    publicPem = createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'pem' }).toString();
  } catch (err) {
    throw new ConfigError(`${privatePath} is not a PEM private key; delete it to generate a new pair`, { cause: err });
  }
  if ((await readIfExists(publicPath)) !== publicPem) {
    // Same content from every node, so a plain replace-by-rename cannot leave a torn file.
    const tmp = `${publicPath}.${randomUUID()}.tmp`;
    await writeFile(tmp, publicPem, { mode: 0o644 });
    await rename(tmp, publicPath);
  }
  return { dir, privatePem, publicPem };
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
