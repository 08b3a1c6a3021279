/**
 * Micro-benchmark of a MESSAGE_SENT fan-out to R recipients (default 100) with the project's
 * encoder (src/protocol/codec.ts):
 *   - per recipient: encode the frame once for every recipient (what fan-out would cost without
 *     the encode-once rule);
 *   - once + utf8 each: encode once, then make the UTF-8 bytes for every recipient (about what
 *     ws.send(string) does per socket);
 *   - once + utf8 once: encode once and convert once; every recipient gets the same Buffer.
 * Prints fan-outs per second and ns per recipient for each.
 *
 *   npm run build --silent && node dist/bench/codec.js [--recipients 100] [--seconds 1] [--size 100] [--ascii]
 */
import { performance } from 'node:perf_hooks';
import { encode } from '../src/protocol/codec.js';
import type { Message, ServerFrame } from '../src/protocol/frames.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive whole number`);
  return n;
}

const recipients = arg('recipients', 100);
const seconds = arg('seconds', 1);
const size = arg('size', 100);
/** --ascii: plain ASCII content (else a mix with 2- and 3-byte UTF-8 characters). */
const ascii = process.argv.includes('--ascii');

const message: Message = {
  id: '1795488000801234',
  conversationId: '1795488000800042',
  author: '1795488000800007',
  content: (ascii ? 'hello ok ' : 'héllo ✓ ').repeat(Math.ceil(size / 8)).slice(0, size),
  createdAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  deletedAt: null,
  clientMessageId: 'c-4f1d2a',
};
const frame: ServerFrame = { method: 'MESSAGE_SENT', data: { message } };

/** Keeps results alive so the work cannot be optimised away. */
let sink = 0;

const variants: Array<{ name: string; fanOut: () => void }> = [
  {
    name: 'encode per recipient',
    fanOut: () => {
      for (let r = 0; r < recipients; r++) sink += encode(frame).length;
    },
  },
  {
    name: 'encode once + utf8 per recipient',
    fanOut: () => {
      const text = encode(frame);
      for (let r = 0; r < recipients; r++) sink += Buffer.from(text, 'utf8').length;
    },
  },
  {
    name: 'encode once + utf8 once',
    fanOut: () => {
      const bytes = Buffer.from(encode(frame), 'utf8');
      for (let r = 0; r < recipients; r++) sink += bytes.length;
    },
  },
];

function measure(fanOut: () => void): number {
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) fanOut();
  let ops = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  let now = start;
  while (now < until) {
    for (let i = 0; i < 100; i++) fanOut();
    ops += 100;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

process.stdout.write(
  `MESSAGE_SENT fan-out to ${recipients} recipients, frame ${Buffer.byteLength(encode(frame))} bytes (${ascii ? 'ASCII' : 'non-ASCII'} content of ${size} chars), ${seconds} s per variant (node ${process.version})\n\n`,
);
const rows = variants.map((v) => {
  const opsPerSec = measure(v.fanOut);
  return [v.name, opsPerSec.toFixed(0), ((1e9 / opsPerSec) / recipients).toFixed(1)];
});
const head = ['variant', 'fan-outs/s', 'ns/recipient'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows]) process.stdout.write(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + '\n');
process.stdout.write(`\nreproduce: npm run build --silent && node dist/bench/codec.js --recipients ${recipients} --seconds ${seconds} --size ${size}${ascii ? ' --ascii' : ''}\n`);
if (sink === -1) process.stdout.write('\n');
