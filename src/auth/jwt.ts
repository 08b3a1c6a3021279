/**
 * JWT sign-in (spec §2.1 AUTHENTICATE, §3 Bearer tokens, §4 JWT_*). The main API issues the tokens;
 * we only verify them, with exactly one configured algorithm: RS256 with JWT_PUBLIC_KEY, or HS256
 * with JWT_SECRET. With neither set, a development key pair is generated once in DATA_DIR so a
 * single node runs out of the box, and `npm run token` can sign tokens for it.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { createSigner, createVerifier as createSignatureCheck, TOKEN_ERROR_CODES } from 'fast-jwt';
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
const BASE64URL = /^[\w-]*$/;
const generateKeyPairAsync = promisify(generateKeyPair);

type Alg = 'RS256' | 'HS256';
type Claims = Record<string, unknown>;

interface ClaimRules {
  issuer: string | null;
  audience: string | null;
  clockToleranceS: number;
}

/**
 * Builds the verifier for the configured algorithm. With neither JWT_PUBLIC_KEY nor JWT_SECRET,
 * uses (creating on first start) the development key pair in `${dataDir}/dev-keys/` and warns
 * through `log`, since such tokens are only as secret as that directory.
 */
export async function createVerifier(config: Config, log?: { warn(msg: string): void }): Promise<TokenVerifier> {
  let alg: Alg;
  let key: string;
  if (config.jwtSecret !== null) {
    alg = 'HS256';
    key = config.jwtSecret;
    // RFC 7518 §3.2: an HS256 key should be at least 256 bits. The main API chose it, so it is
    // accepted, but an operator should hear that it is guessable.
    if (Buffer.byteLength(key) < 32) log?.warn('JWT_SECRET is shorter than 32 bytes: HS256 tokens signed with it can be forged by brute force');
  } else if (config.jwtPublicKey !== null) {
    alg = 'RS256';
    key = config.jwtPublicKey;
  } else {
    const keys = await devKeyPair(config.dataDir);
    alg = 'RS256';
    key = keys.publicPem;
    log?.warn(`development key pair in ${keys.dir}; set JWT_PUBLIC_KEY or JWT_SECRET in production`);
  }
  // The key is parsed into a KeyObject here, once; each token then costs one synchronous
  // node:crypto verify on the event loop, with no thread-pool round trip (RS256: about 30 µs of
  // CPU, against 50 to 115 µs through WebCrypto; README "Tokens"). `algorithms` pins the one
  // configured algorithm: an HS256 token signed with the RSA public key as secret, or `alg: none`,
  // is refused (the classic confusion attacks). The claims are checked by `claimsRefusal`, so that
  // `exp` stays exact while `nbf` gets the tolerance, and each refusal names its claim. fast-jwt's
  // token cache stays off: in a sign-in storm every token is new, so it would only add a hash each.
  const checkSignature = createSignatureCheck({ key, algorithms: [alg], ignoreExpiration: true, ignoreNotBefore: true });
  const rules: ClaimRules = { issuer: config.jwtIssuer, audience: config.jwtAudience, clockToleranceS: config.jwtClockToleranceS };
  return {
    async verify(token) {
      if (typeof token !== 'string' || token === '') throw new AppError('UNAUTHENTICATED', 'token is missing');
      let claims: Claims;
      try {
        claims = checkSignature(token) as Claims;
      } catch (err) {
        throw new AppError('UNAUTHENTICATED', reasonFor(err, token, alg), { cause: err });
      }
      const refusal = claimsRefusal(claims, rules, Date.now());
      if (refusal !== null) throw new AppError('UNAUTHENTICATED', refusal);
      const userId = canonicalId(claims.sub);
      if (userId === null) {
        throw new AppError('UNAUTHENTICATED', claims.sub === undefined ? 'token has no sub claim' : 'token sub is not a user id');
      }
      return { userId, expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : null };
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
  let signer: { algorithm: Alg; key: string };
  if (config.jwtSecret !== null) {
    signer = { algorithm: 'HS256', key: config.jwtSecret };
  } else if (config.jwtPublicKey !== null) {
    throw new ConfigError('JWT_PUBLIC_KEY is set: tokens must come from the main API, which holds the private key');
  } else {
    signer = { algorithm: 'RS256', key: (await devKeyPair(config.dataDir)).privatePem };
  }
  // fast-jwt adds `iat` (now) and the header's `typ: JWT`.
  return createSigner(signer)({ sub: userId, exp: Math.floor(Date.now() / 1000) + ttlSeconds });
}

/**
 * Why a token's verified claims are refused, or null. `iss` and `aud` count only when configured,
 * and a token without the claim is then refused. `nbf` may be up to the tolerance ahead (a main
 * API whose clock runs ahead), in whole seconds as JWT times are; `exp` is exact to the
 * millisecond, as the connection's sign-in ends exactly then (spec §2.3). The checks run in a
 * fixed order, so a token wrong in several ways always gets the same reason.
 */
function claimsRefusal(claims: Claims, rules: ClaimRules, nowMs: number): string | null {
  const { issuer, audience } = rules;
  if (issuer !== null && !('iss' in claims)) return 'token has no iss claim';
  if (audience !== null && !('aud' in claims)) return 'token has no aud claim';
  if (issuer !== null && claims.iss !== issuer) return 'token issuer (iss) is not accepted';
  if (audience !== null && claims.aud !== audience && !(Array.isArray(claims.aud) && claims.aud.includes(audience))) {
    return 'token audience (aud) is not accepted';
  }
  if (claims.iat !== undefined && typeof claims.iat !== 'number') return 'token claim iat is invalid (invalid)';
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== 'number') return 'token claim nbf is invalid (invalid)';
    if (claims.nbf > Math.floor(nowMs / 1000) + rules.clockToleranceS) return 'token claim nbf is invalid (check_failed)';
  }
  if (claims.exp !== undefined) {
    if (typeof claims.exp !== 'number') return 'token claim exp is invalid (invalid)';
    if (claims.exp * 1000 <= nowMs) return 'token has expired';
  }
  return null;
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

/**
 * A reason a client can act on (fast-jwt's messages name its internals). The header is read first,
 * so that a token with another algorithm is told so whatever else is wrong with it, as fast-jwt
 * checks the signature's characters and the payload before the algorithm. A critical header
 * extension (RFC 7515 §4.1.11) counts as malformed: none is implemented here.
 */
function reasonFor(err: unknown, token: string, alg: Alg): string {
  const segments = token.split('.');
  const header = segments.length === 3 ? headerOf(segments[0]!) : null;
  if (typeof header?.alg !== 'string' || header.alg === '') return 'token is malformed';
  if (header.alg !== alg) return `token algorithm must be ${alg}`;
  switch ((err as { code?: unknown }).code) {
    case TOKEN_ERROR_CODES.malformed:
    case TOKEN_ERROR_CODES.invalidPayload:
    case TOKEN_ERROR_CODES.invalidCritHeader:
      return 'token is malformed';
    case TOKEN_ERROR_CODES.invalidSignature:
      return BASE64URL.test(segments[2]!) ? 'token signature is invalid' : 'token is malformed';
    case TOKEN_ERROR_CODES.missingSignature:
    case TOKEN_ERROR_CODES.verifyError:
      return 'token signature is invalid';
    default:
      return 'token is invalid';
  }
}

/** A token's header, or null unless its first segment is base64url of a JSON object. */
function headerOf(segment: string): Record<string, unknown> | null {
  if (!BASE64URL.test(segment)) return null;
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString());
    return typeof header === 'object' && header !== null && !Array.isArray(header) ? (header as Record<string, unknown>) : null;
  } catch {
    return null;
  }
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
    const { privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const tmp = `${privatePath}.${randomUUID()}.tmp`;
    await writeFile(tmp, privateKey, { mode: 0o600 });
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
