/**
 * Dependencies point inward (style §1, §4): the protocol and the core never import a driver or a
 * framework, so they stay testable without sockets or SQL, and only the composition root picks the
 * implementation of a port. `no-restricted-imports` in eslint.config.js checks every file
 * (`npm run lint`); these cases prove that config rejects what it should and allows what it should,
 * so a mistyped glob or pattern cannot switch a rule off unnoticed.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

// Import rules need no types: skip building the TypeScript program.
const eslint = new ESLint({ cwd: fileURLToPath(new URL('..', import.meta.url)), overrideConfig: tseslint.configs.disableTypeChecked });

async function restricted(file: string, source: string): Promise<boolean> {
  const [result] = await eslint.lintText(`import '${source}';\n`, { filePath: file });
  return result!.messages.some((m) => m.ruleId === 'no-restricted-imports');
}

const DRIVERS = ['ws', 'fastify', 'pg', '@electric-sql/pglite', 'ioredis', 'pino', 'prom-client', 'ws/lib/sender.js'];

describe('architecture', () => {
  for (const folder of ['src/protocol', 'src/core']) {
    it(`${folder} imports no driver or framework`, async () => {
      for (const source of DRIVERS) expect(await restricted(`${folder}/example.ts`, source), source).toBe(true);
    });
  }

  it('src/protocol imports nothing outside itself but the error registry and Node built-ins', async () => {
    for (const source of ['../core/hub.js', '../store/store.js', '../config.js', 'fast-jwt']) {
      expect(await restricted('src/protocol/example.ts', source), source).toBe(true);
    }
    for (const source of ['./frames.js', '../errors.js', 'node:buffer']) {
      expect(await restricted('src/protocol/example.ts', source), source).toBe(false);
    }
  });

  it('src/core reaches the other layers only through their ports', async () => {
    for (const source of ['../transport/connection.js', '../http/envelope.js', '../metrics.js', '../store/sql-store.js', '../bus/redis.js']) {
      expect(await restricted('src/core/example.ts', source), source).toBe(true);
    }
    for (const source of ['../store/store.js', '../bus/bus.js', '../presence/presence.js', '../protocol/codec.js', './hub.js']) {
      expect(await restricted('src/core/example.ts', source), source).toBe(false);
    }
  });

  it('only the composition root imports the implementation of a port', async () => {
    const implementations = ['bus/memory.js', 'bus/redis.js', 'presence/memory.js', 'presence/redis.js', 'store/db-pg.js', 'store/db-pglite.js', 'store/sql-store.js'];
    for (const name of implementations) {
      expect(await restricted('src/transport/example.ts', `../${name}`), name).toBe(true);
      expect(await restricted('src/http/routes/example.ts', `../../${name}`), name).toBe(true);
      expect(await restricted('src/main.ts', `./${name}`), name).toBe(true);
      expect(await restricted('src/build.ts', `./${name}`), name).toBe(false);
    }
  });
});
