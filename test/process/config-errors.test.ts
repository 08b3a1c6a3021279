/**
 * A configuration mistake stops the real process at once: exit code 1 and one line on stderr
 * naming the variable, never a stack trace (src/main.ts).
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll, runMain, tempDir } from './proc.js';

const dir = tempDir();

beforeAll(async () => {
  await ensureBuilt();
}, 150_000);
afterEach(async () => {
  await killAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'x'.repeat(40);

describe('node dist/src/main.js with a configuration error', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['PORT=abc', { PORT: 'abc' }, ['PORT']],
    ['PORT=70000', { PORT: '70000' }, ['PORT']],
    ['DATABASE_URL=mysql://x', { DATABASE_URL: 'mysql://x' }, ['DATABASE_URL']],
    ['REDIS_URL=http://x', { REDIS_URL: 'http://x' }, ['REDIS_URL']],
    ['JWT_PUBLIC_KEY and JWT_SECRET', { JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', JWT_SECRET: SECRET }, ['JWT_PUBLIC_KEY', 'JWT_SECRET']],
    ['JWT_PUBLIC_KEY_FILE missing', { JWT_PUBLIC_KEY_FILE: '/nonexistent/key.pem' }, ['JWT_PUBLIC_KEY_FILE']],
    ['MAX_FRAME_BYTES=big', { MAX_FRAME_BYTES: 'big' }, ['MAX_FRAME_BYTES']],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, ['LOG_LEVEL']],
  ])('%s: exit 1, one line naming the variable, no stack', async (_label, env, names) => {
    const started = Date.now();
    const run = await runMain({ PORT: '0', DATA_DIR: dir, ...env });
    expect(run.code).toBe(1);
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^massenger: configuration error: /);
    for (const name of names) expect(lines[0]).toContain(name);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.stdout).toBe('');
    // Nothing was started, so nothing has to be waited for.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a port already in use: exit 1 with one line, no stack', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const run = await runMain({ PORT: String(port), DATA_DIR: dir, JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
      expect(run.code).toBe(1);
      const lines = run.stderr.split('\n').filter((l) => l !== '');
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^massenger: could not start: .*EADDRINUSE/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  }, 30_000);
});
