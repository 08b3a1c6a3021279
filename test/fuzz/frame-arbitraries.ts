/**
 * Client frames for the fuzzer: near-valid requests for every method of spec §2.1 (each field
 * valid, missing, of the wrong type, at or past its limits, or naming a fixture it may not
 * touch), arbitrary JSON, text that is not JSON, invalid UTF-8, binary frames, and frames at and
 * past MAX_FRAME_BYTES. Fixtures are referred to by name (`Ref`) and resolved when the frame is
 * written, since their ids exist only once the node runs.
 */
import fc from 'fast-check';
import { MAX_FRAME_BYTES, type Wire } from './frame-oracle.js';
import { anyJson, Deep, edgeNumber, edgeString, type Json, Obj, RawNumber, Ref, type Resolve, writeJson } from './json-text.js';

/** Fixture names the test resolves (see frames.test.ts). */
const CONVERSATIONS = ['group', 'foreign', 'unknownConversation'] as const;
const MESSAGES = ['ownMessage', 'ownDeleted', 'othersMessage', 'foreignMessage', 'unknownMessage'] as const;
const TOKENS = ['token:me', 'token:bystander', 'token:ghost', 'token:expired', 'token:forged', 'token:noSub'] as const;

export type FrameSpec =
  /** A text frame holding this JSON, possibly damaged as text. */
  | { kind: 'json'; value: Json; damage: Damage | null }
  /** Raw bytes: a binary frame, or a text frame that is not valid UTF-8. */
  | { kind: 'bytes'; bytes: number[]; binary: boolean }
  /** A PING padded to exactly `size` bytes. */
  | { kind: 'sized'; size: number };

/** What is done to a frame's text: cut, extended, or made invalid UTF-8. */
export type Damage = { cut: number } | { append: string } | { prepend: string } | { badByteAt: number; byte: number };

/** An optional field: left out most of the time it is not needed. */
const field = (name: string, value: fc.Arbitrary<Json>, presence = 0.8): fc.Arbitrary<Array<readonly [string, Json]>> =>
  fc.oneof({ weight: Math.round(presence * 10), arbitrary: value.map((v) => [[name, v] as const]) }, { weight: Math.round((1 - presence) * 10), arbitrary: fc.constant<Array<readonly [string, Json]>>([]) });

/** An id: a fixture in one of its wire forms (the first name most often), or something that is not an id. */
export function id(names: readonly string[]): fc.Arbitrary<Json> {
  const name = fc.oneof(fc.constant(names[0]!), fc.constantFrom(...names));
  return fc.oneof(
    { weight: 12, arbitrary: fc.tuple(name, fc.constantFrom<Ref['as']>('string', 'string', 'number', 'padded')).map(([n, as]) => new Ref(n, as)) },
    { weight: 1, arbitrary: edgeNumber },
    { weight: 1, arbitrary: edgeString },
    { weight: 1, arbitrary: fc.constantFrom<Json>(null, true, [], new Obj([]), '0', '00', '9223372036854775807', '9223372036854775808', '99999999999999999999', new RawNumber('9007199254740992'), new RawNumber('1.5')) },
  );
}

const emoji = '😀';
/** Content: ordinary text, the 4000-character limit on either side, blank, NUL, lone surrogates, not a string. */
export const content: fc.Arbitrary<Json> = fc.oneof(
  { weight: 14, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }) },
  { weight: 2, arbitrary: fc.constantFrom('a'.repeat(4000), 'a'.repeat(4001), emoji.repeat(4000), emoji.repeat(4001), 'a'.repeat(3999) + emoji, ` ${'a'.repeat(3998)} `) },
  { weight: 2, arbitrary: fc.constantFrom('', ' ', '\n\t ', '\u3000', '\u00a0', 'a\u0000', '\ud800', 'x\udfff', 'hi\ud83d') },
  { weight: 1, arbitrary: anyJson },
);

/** requestId or clientMessageId: a few repeated ones, any text up to 64 characters, the limit, and what is not one. */
function tagValue(pool: string[]): fc.Arbitrary<Json> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...pool) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }) },
    { weight: 1, arbitrary: fc.constantFrom('x'.repeat(64), 'x'.repeat(65), emoji.repeat(64), emoji.repeat(65), '', '\u0000', 'a\ud800') },
    { weight: 1, arbitrary: anyJson },
  );
}

const requestId = field('requestId', tagValue(['r1', 'r2', 'same']), 0.6);
const token = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(TOKENS[0], ...TOKENS).map((n) => new Ref(n, 'string')) },
  { weight: 1, arbitrary: fc.constantFrom<Json>('', 'Bearer x', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.') },
  { weight: 1, arbitrary: anyJson },
);
const limit = fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constantFrom<Json>(0, 101, -1, '50', '0100', '100', '101', '1e2', new RawNumber('1e2'), new RawNumber('50.0'), 50.5, '', ' 5', null), anyJson);
/** Fields no method reads: ignored, whatever they hold (spec §2.1: a stale `token` among them). */
const junk = fc.array(fc.tuple(fc.oneof(fc.constantFrom('token', 'extra', '__proto__', 'constructor', 'data', 'method'), fc.string({ maxLength: 8 })), anyJson), { maxLength: 2 });

/** The data fields of each method, each one valid or not (see `id`, `content`...). */
const fieldsByMethod: Record<string, fc.Arbitrary<Array<readonly [string, Json]>>> = {
  AUTHENTICATE: fc.tuple(field('token', token, 0.95), field('lastMessageId', fc.oneof(id(MESSAGES), fc.constantFrom<Json>(0, '0', new RawNumber('-0'))), 0.3)).map((parts) => parts.flat()),
  SEND_MESSAGE: fc.tuple(field('conversationId', id(CONVERSATIONS), 0.95), field('content', content, 0.95), field('clientMessageId', tagValue(['k1', 'k2', 'k3']), 0.5)).map((parts) => parts.flat()),
  OPEN_CONVERSATION: field('conversationId', id(CONVERSATIONS), 0.95),
  TYPING: field('conversationId', id(CONVERSATIONS), 0.95),
  FETCH_MESSAGES: fc.tuple(field('conversationId', id(CONVERSATIONS), 0.95), field('before', id(MESSAGES), 0.4), field('limit', limit, 0.4)).map((parts) => parts.flat()),
  EDIT_MESSAGE: fc.tuple(field('messageId', id(MESSAGES), 0.95), field('content', content, 0.95)).map((parts) => parts.flat()),
  DELETE_MESSAGE: field('messageId', id(MESSAGES), 0.95),
  PING: fc.constant([]),
};

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...Object.keys(fieldsByMethod)) },
  { weight: 1, arbitrary: fc.constantFrom('ping', 'Ping', ' PING', 'PING ', 'PONG', 'INIT', 'ERROR', 'SEND', 'AUTHENTICATE\u0000', '', 'M'.repeat(200), '__proto__', 'toString') },
  { weight: 1, arbitrary: edgeString },
);

/** `{method, data}` with the method's fields, a requestId and ignored ones, in any order; data sometimes left out. */
const requestOf = (methods: fc.Arbitrary<string>): fc.Arbitrary<Json> =>
  methods.chain((m) =>
  fc
    .tuple(Object.hasOwn(fieldsByMethod, m) ? fieldsByMethod[m]! : fc.constant([]), requestId, junk, fc.integer({ min: 0, max: 9 }))
    .chain(([fields, rid, extra, shape]) =>
      fc.shuffledSubarray([...fields, ...rid, ...extra], { minLength: fields.length + rid.length + extra.length }).map((entries) => {
        // Mostly a data object; sometimes none (allowed when a method takes no fields) or null.
        if (shape === 0 && entries.length < 2) return new Obj([['method', m]]);
        if (shape === 1 && entries.length < 2) return new Obj([['method', m], ['data', null]]);
        if (shape === 2) return new Obj([['data', new Obj(entries)], ['method', m]]);
        return new Obj([['method', m], ['data', new Obj(entries)]]);
      }),
    ),
  );
const request = requestOf(method);

/** Frames that are not requests at all: other JSON, other shapes of {method, data}. */
const malformed: fc.Arbitrary<Json> = fc.oneof(
  anyJson,
  fc.tuple(method, anyJson).map(([m, data]) => new Obj([['method', m], ['data', data]])),
  fc.tuple(anyJson, anyJson).map(([m, data]) => new Obj([['method', m], ['data', data]])),
  fc.tuple(method, fc.integer({ min: 1, max: 20000 })).map(([m, depth]) => new Obj([['method', m], ['data', new Obj([['requestId', new Deep(depth, 'array', 'x')]])]])),
  fc.constantFrom<Json>(new Obj([['method', 'PING'], ['method', 'NOPE']]), new Obj([['method', 'NOPE'], ['method', 'PING']]), new Obj([['data', new Obj([])]])),
);

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.double({ min: 0, max: 1, noNaN: true }).map((cut) => ({ cut })),
  fc.constantFrom('}', ']', ',', ' ', '\n', 'x', '\u0000', '{}', '\ufeff').map((append) => ({ append })),
  fc.constantFrom('\ufeff', ' \t\r\n', 'x', '[').map((prepend) => ({ prepend })),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0xff, 0xfe, 0xc0, 0xc3, 0xed, 0x80, 0xf8)).map(([badByteAt, byte]) => ({ badByteAt, byte })),
);

/** One client frame of any kind; most are near-valid requests. */
const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  { weight: 30, arbitrary: request.map((value) => ({ kind: 'json' as const, value, damage: null })) },
  { weight: 3, arbitrary: fc.tuple(request, damage).map(([value, d]) => ({ kind: 'json' as const, value, damage: d })) },
  { weight: 5, arbitrary: malformed.map((value) => ({ kind: 'json' as const, value, damage: null })) },
  { weight: 2, arbitrary: fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }), fc.boolean()).map(([bytes, binary]) => ({ kind: 'bytes' as const, bytes, binary })) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 1 }).map((d) => ({ kind: 'sized' as const, size: MAX_FRAME_BYTES + d })) },
);

/**
 * Frames that change nothing whatever they get (no message stored, changed or announced), so that
 * a flood of them can be refused in any part: PING, FETCH_MESSAGES, unknown methods, other JSON,
 * bytes that are not JSON.
 */
export const harmlessFrame: fc.Arbitrary<FrameSpec> = fc.oneof(
  { weight: 4, arbitrary: requestOf(fc.constantFrom('PING', 'FETCH_MESSAGES', 'NOPE', 'ping')).map((value) => ({ kind: 'json' as const, value, damage: null })) },
  { weight: 1, arbitrary: anyJson.map((value) => ({ kind: 'json' as const, value, damage: null })) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 32 }).map((bytes) => ({ kind: 'bytes' as const, bytes, binary: true })) },
);

/** A case: a fresh connection, signed in first or not, and the frames sent on it in one go. */
export interface FrameCase {
  signIn: boolean;
  frames: FrameSpec[];
}

export const frameCase: fc.Arbitrary<FrameCase> = fc.record({
  // Signed in most of the time: before sign-in nearly everything is UNAUTHENTICATED.
  signIn: fc.oneof({ weight: 7, arbitrary: fc.constant(true) }, { weight: 3, arbitrary: fc.constant(false) }),
  frames: fc.array(frameSpec, { minLength: 1, maxLength: 12 }),
});

/** The sign-in that opens a `signIn` case. */
export const SIGN_IN: FrameSpec = { kind: 'json', value: new Obj([['method', 'AUTHENTICATE'], ['data', new Obj([['token', new Ref('token:me', 'string')]])]]), damage: null };

/** The frame as written on the wire. */
export function toWire(spec: FrameSpec, resolve: Resolve): Wire {
  if (spec.kind === 'bytes') return { bytes: Buffer.from(spec.bytes), binary: spec.binary };
  if (spec.kind === 'sized') {
    const head = '{"method":"PING","data":{"requestId":"sized","pad":"';
    const tail = '"}}';
    return { text: head + 'p'.repeat(spec.size - head.length - tail.length) + tail };
  }
  const text = writeJson(spec.value, resolve);
  const d = spec.damage;
  if (d === null) return { text };
  if ('cut' in d) return { text: text.slice(0, Math.floor(text.length * d.cut)) };
  if ('append' in d) return { text: text + d.append };
  if ('prepend' in d) return { text: d.prepend + text };
  const bytes = Buffer.from(text, 'utf8');
  const at = Math.min(bytes.length, Math.floor(bytes.length * d.badByteAt));
  return { bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from([d.byte]), bytes.subarray(at)]), binary: false };
}
