/**
 * Dependencies point inward (style §1): the protocol and the core never import a driver or a
 * framework, so they stay testable without sockets or SQL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FORBIDDEN = ['ws', 'fastify', 'pg', '@electric-sql/pglite', 'ioredis', 'pino', 'prom-client'];

function imports(dir: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const name of readdirSync(dir)) {
    const text = readFileSync(join(dir, name), 'utf8');
    for (const match of text.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)) found.push([name, match[1]!]);
  }
  return found;
}

describe('architecture', () => {
  for (const folder of ['src/protocol', 'src/core']) {
    it(`${folder} imports no driver or framework`, () => {
      const bad = imports(folder).filter(([, spec]) => FORBIDDEN.some((f) => spec === f || spec.startsWith(`${f}/`)));
      expect(bad).toEqual([]);
    });
  }
  it('src/protocol imports nothing outside itself but the error registry and Node built-ins', () => {
    const outside = imports('src/protocol').filter(([, spec]) => !spec.startsWith('./') && !spec.startsWith('node:') && spec !== '../errors.js');
    expect(outside).toEqual([]);
  });
});
