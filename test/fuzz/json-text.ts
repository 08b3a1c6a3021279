/**
 * JSON as the fuzzers write it: a tree of plain values plus what JSON.stringify cannot write
 * (number tokens such as `1e400` or `-0`, repeated keys, nesting deeper than a recursive writer
 * could reach) and references to fixtures (ids known only once the node runs). `writeJson` turns
 * a tree into text; what the server sees is whatever JSON.parse makes of that text, so the
 * oracles read the same text with JSON.parse rather than trusting the tree.
 */
import fc from 'fast-check';

/** A number token written as is: valid JSON (`1e400`, `-0`, `1.0`) or not (`NaN`, `01`, `.5`). */
export class RawNumber {
  constructor(readonly token: string) {}
  [fc.toStringMethod](): string {
    return `RawNumber(${this.token})`;
  }
}

/** An object as a list of entries, so a key may repeat (JSON.parse keeps the last). */
export class Obj {
  constructor(readonly entries: ReadonlyArray<readonly [string, Json]>) {}
  [fc.toStringMethod](): string {
    return `Obj(${fc.stringify(this.entries)})`;
  }
}

/** `depth` arrays (or objects) around `leaf`, written without recursion. */
export class Deep {
  constructor(
    readonly depth: number,
    readonly kind: 'array' | 'object',
    readonly leaf: Json,
  ) {}
  [fc.toStringMethod](): string {
    return `Deep(${this.depth}, ${this.kind}, ${fc.stringify(this.leaf)})`;
  }
}

/** A fixture (a conversation, a message...) named by the test, written as its id in one of the wire forms. */
export class Ref {
  constructor(
    readonly name: string,
    readonly as: 'string' | 'number' | 'padded',
  ) {}
  [fc.toStringMethod](): string {
    return `Ref(${this.name}, ${this.as})`;
  }
}

export type Json = null | boolean | number | string | Json[] | Obj | RawNumber | Deep | Ref;

/** Resolves a fixture name to its id (a decimal string). */
export type Resolve = (name: string) => string;

export function writeJson(value: Json, resolve: Resolve): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => writeJson(v, resolve)).join(',')}]`;
  if (value instanceof RawNumber) return value.token;
  if (value instanceof Obj) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${writeJson(v, resolve)}`).join(',')}}`;
  if (value instanceof Deep) {
    const [open, close] = value.kind === 'array' ? ['[', ']'] : ['{"a":', '}'];
    return open.repeat(value.depth) + writeJson(value.leaf, resolve) + close.repeat(value.depth);
  }
  const id = resolve(value.name);
  if (value.as === 'number') return id;
  // Leading zeros keep it an id (1 to 19 digits naming the same bigint) while it fits.
  if (value.as === 'padded') return JSON.stringify(id.padStart(Math.min(19, id.length + 3), '0'));
  return JSON.stringify(id);
}

/** Number tokens at the edges: JSON.parse reads the valid ones as Infinity, -0, unsafe integers... */
export const edgeNumber: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(
    ...['0', '-0', '1', '-1', '1.0', '1.5', '1e2', '1E2', '1e-400', '1e400', '-1e400', '1e21', '0.1', '9007199254740991', '9007199254740993'].map((t) => new RawNumber(t)),
    ...['9223372036854775807', '9223372036854775808', '123456789012345678901234567890', '100', '101', '4000', '4001', '64', '65'].map((t) => new RawNumber(t)),
    // Not JSON at all: the whole frame is then not JSON.
    ...['NaN', 'Infinity', '-Infinity', '01', '+1', '.5', '1.', '0x10', '1e', '--1'].map((t) => new RawNumber(t)),
  ),
  fc.integer(),
  fc.double(),
);

/** Strings at the edges: empty, blank, NUL, lone surrogates, emoji, right-to-left, very long. */
export const edgeString: fc.Arbitrary<string> = fc.oneof(
  { depthSize: 'small' },
  fc.constantFrom('', ' ', '\t\n', '\u3000\u00a0', '\u0000', 'a\u0000b', '\ud800', 'a\udc00', '\udc00\ud800', '😀', '\u202e', 'null', '42', ' 42', '42 ', '+42', '-42', '0042', '٤٢', '4 2', '1e3', '0x2a'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  // Long strings are one short string repeated: cheap to make, still kilobytes (a frame of
  // several of them may pass MAX_FRAME_BYTES, which is a case too).
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), fc.integer({ min: 100, max: 3000 })).map(([s, n]) => s.repeat(n)) },
);

const key = fc.oneof(fc.constantFrom('method', 'data', 'requestId', 'token', '__proto__', 'constructor', 'toString', ''), fc.string({ unit: 'binary', maxLength: 12 }));

/** Any JSON value: edge numbers and strings, nested arrays and objects, deep nesting. */
export const anyJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Json>(null, true, false),
    edgeNumber,
    edgeString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('value')), { maxLength: 4 }).map((entries) => new Obj(entries)),
    fc.tuple(fc.integer({ min: 1, max: 10000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([depth, kind]) => new Deep(depth, kind, null)),
  ),
})).value;
