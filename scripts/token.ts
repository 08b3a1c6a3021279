/**
 * Prints a development token for a user: `npm run token -- <userId> [ttlSeconds]`.
 * Only the token goes to stdout, so `TOKEN=$(npm run -s token -- 1)` works; everything else goes
 * to stderr. Signs with JWT_SECRET, or with the development key pair in DATA_DIR (generated if
 * missing), the same ones the server verifies with (src/auth/jwt.ts).
 */
import { signDevToken } from '../src/auth/jwt.js';
import { ConfigError, loadConfig } from '../src/config.js';

const USAGE = 'usage: npm run token -- <userId> [ttlSeconds]   (userId a positive decimal id; ttlSeconds default 86400)';

const [userId, ttlText, ...extra] = process.argv.slice(2);
if (userId === undefined || !/^[1-9][0-9]{0,18}$/.test(userId) || extra.length > 0 || (ttlText !== undefined && !/^[1-9][0-9]{0,9}$/.test(ttlText))) {
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

try {
  const token = await signDevToken(loadConfig(), userId, ttlText === undefined ? undefined : Number(ttlText));
  process.stdout.write(token + '\n');
} catch (err) {
  // A ConfigError or RangeError message is one line for a person; anything else is a bug.
  const message = err instanceof ConfigError || err instanceof RangeError ? err.message : String((err as Error).stack ?? err);
  process.stderr.write(`token: ${message}\n`);
  process.exit(1);
}
