/**
 * The protocol ships with the project (docs/protocol.md) and stays in step with the code: every
 * method and event of the frame unions, every error code, every close code and every variable the
 * configuration reads appears in it, each list parsed from its source file. The JSON Schema of the
 * frames (docs/frames.schema.json) is what scripts/frames-schema.ts makes, and agrees with the
 * codec: examples built from it decode, examples just outside it do not.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { decode } from '../src/protocol/codec.js';
import { schemaText } from '../scripts/frames-schema.js';
import { SchemaChecker } from './client/json-schema.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const protocol = read('docs/protocol.md');
const mentions = (name: string | number) => new RegExp(`\\b${name}\\b`).test(protocol);

/** The `method` names of one exported union in src/protocol/frames.ts. */
function unionMethods(name: 'ClientFrame' | 'ServerFrame'): string[] {
  const source = read('src/protocol/frames.ts');
  const start = source.indexOf(`export type ${name} =`);
  const end = source.indexOf('\nexport ', start + 1);
  expect(start, `${name} in frames.ts`).toBeGreaterThanOrEqual(0);
  return [...source.slice(start, end === -1 ? undefined : end).matchAll(/method: '([A-Z_]+)'/g)].map((m) => m[1]!);
}

const clientMethods = unionMethods('ClientFrame');
const serverMethods = unionMethods('ServerFrame');
const errorCodes = [...(/export type ErrorCode =([^;]+);/.exec(read('src/errors.ts'))?.[1] ?? '').matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
const closeCodes = [...read('src/protocol/close-codes.ts').matchAll(/export const (CLOSE_[A-Z_]+) = (\d+);/g)].map((m) => ({ name: m[1]!, code: Number(m[2]) }));
const configSource = read('src/config.ts');
const variables = [
  ...new Set([
    ...[...configSource.matchAll(/\benv\s*,\s*'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!),
    ...[...configSource.matchAll(/\benv(?:\.|\[')([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!),
  ]),
];

describe('docs/protocol.md', () => {
  it('parsed non-empty lists from the sources (no test passes on nothing)', () => {
    expect(clientMethods.length).toBeGreaterThanOrEqual(6);
    expect(serverMethods.length).toBeGreaterThanOrEqual(11);
    expect(errorCodes.length).toBeGreaterThanOrEqual(9);
    expect(closeCodes.length).toBeGreaterThanOrEqual(5);
    expect(variables.length).toBeGreaterThanOrEqual(20);
  });

  it.each(clientMethods)('documents the client method %s', (method) => expect(mentions(method)).toBe(true));
  it.each(serverMethods)('documents the server event %s', (method) => expect(mentions(method)).toBe(true));
  it.each(errorCodes)('documents the error code %s', (code) => expect(mentions(code)).toBe(true));
  it.each(closeCodes)('documents the close code $name ($code)', ({ name, code }) => {
    expect(mentions(name)).toBe(true);
    expect(mentions(code)).toBe(true);
  });
  it.each(variables)('documents the variable %s', (name) => expect(mentions(name)).toBe(true));

  it('is what the README points to, and the contract travels with it verbatim', () => {
    const readme = read('README.md');
    expect(readme).toMatch(/\]\(docs\/protocol\.md\)/);
    expect(readme).not.toMatch(/\]\(\.\.\//); // no link leaves the repository
    expect(read('docs/spec.md')).toMatch(/^# massenger: the contract/);
  });
});

describe('docs/frames.schema.json', () => {
  const schema = JSON.parse(read('docs/frames.schema.json'));
  const checker = new SchemaChecker(schema);
  const defs = schema.$defs as Record<string, unknown>;
  const schemaMethods = (side: 'client' | 'server') => Object.keys(defs).filter((k) => k.startsWith(`${side}.`)).map((k) => k.slice(side.length + 1));

  it('is the output of scripts/frames-schema.ts (npm run -s frames-schema)', () => {
    expect(read('docs/frames.schema.json')).toBe(schemaText());
  });

  it('has exactly the methods of the frame unions the codec works with', () => {
    expect(schemaMethods('client').sort()).toEqual([...clientMethods].sort());
    expect(schemaMethods('server').sort()).toEqual([...serverMethods].sort());
  });

  for (const method of clientMethods) {
    const frameSchema = { $ref: `#/$defs/client.${method}` };
    const examples = checker.valid(frameSchema) as Array<{ method: string; data?: Record<string, unknown> }>;

    it(`${method}: every example built from the schema decodes as ${method}`, () => {
      expect(examples.length).toBeGreaterThan(1);
      for (const example of examples) {
        expect(checker.errors(frameSchema, example)).toEqual([]);
        const frame = decode(JSON.stringify(example), false);
        expect(frame instanceof AppError ? `${frame.code}: ${frame.message} for ${JSON.stringify(example).slice(0, 200)}` : frame.method).toBe(method);
      }
    });

    it(`${method}: every example just outside the schema is refused by the codec`, () => {
      const dataSchema = checker.resolve(frameSchema).properties.data;
      const base = examples[0]!.data ?? {};
      const broken = checker.broken(dataSchema, base);
      if (checker.resolve(dataSchema).required.length > 0) expect(broken.length).toBeGreaterThan(0);
      for (const { why, value } of broken) {
        const result = decode(JSON.stringify({ method, data: value }), false);
        expect(result instanceof AppError ? result.code : `accepted ${why}`, why).toMatch(/^(INVALID_DATA|UNAUTHENTICATED)$/);
      }
    });
  }
});
