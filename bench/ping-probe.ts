/**
 * How responsive a node is while something else loads it: one WebSocket client sends a PING every
 * `--every` ms for `--seconds` seconds and prints the round-trip times. PING needs no sign-in
 * (spec §2.1), so the probe needs no token; it opens a new connection before AUTH_TIMEOUT_MS
 * would close it. A PING is answered in its connection's turn on the node's event loop, so its
 * round trip is what any request waits for before its own work begins.
 *
 *   npm run ping-probe -- --url ws://127.0.0.1:8080/ [--seconds 10] [--every 20] [--reconnect 8]
 *
 * Only 127.0.0.1 and localhost are accepted: it is for measuring a node on this machine.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const USAGE = 'usage: npm run ping-probe -- --url ws://127.0.0.1:PORT/ [--seconds 10] [--every 20] [--reconnect 8]';

function options(): { url: URL; seconds: number; everyMs: number; reconnectS: number } {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      every: { type: 'string', default: '20' },
      reconnect: { type: 'string', default: '8' },
    },
  });
  const fail = (why: string): never => {
    process.stderr.write(`ping-probe: ${why}\n${USAGE}\n`);
    process.exit(2);
  };
  if (values.url === undefined) fail('--url is required');
  let url: URL;
  try {
    url = new URL(values.url!);
  } catch {
    return fail(`not a URL: ${values.url}`);
  }
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) fail('only a node on this machine (127.0.0.1) may be probed');
  const positive = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number`);
    return n;
  };
  return { url, seconds: positive('seconds', values.seconds), everyMs: positive('every', values.every), reconnectS: positive('reconnect', values.reconnect) };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const o = options();
  const rtts: number[] = [];
  let lost = 0;
  const end = performance.now() + o.seconds * 1000;
  while (performance.now() < end) {
    const ws = new WebSocket(o.url);
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const sentAt = new Map<string, number>();
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { method: string; data?: { requestId?: string } };
      const id = frame.data?.requestId;
      const at = id === undefined ? undefined : sentAt.get(id);
      if (frame.method !== 'PONG' || at === undefined) return;
      rtts.push(performance.now() - at);
      sentAt.delete(id!);
    });
    const until = Math.min(end, performance.now() + o.reconnectS * 1000);
    let n = 0;
    while (performance.now() < until) {
      const requestId = `p${n++}`;
      sentAt.set(requestId, performance.now());
      ws.send(JSON.stringify({ method: 'PING', data: { requestId } }));
      await new Promise((r) => setTimeout(r, o.everyMs));
    }
    // The last PINGs get up to a second to come back; the rest count as lost.
    const deadline = performance.now() + 1000;
    while (sentAt.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    lost += sentAt.size;
    ws.terminate();
  }
  const sorted = rtts.sort((a, b) => a - b);
  const ms = (v: number) => Number(v.toFixed(2));
  console.log(
    JSON.stringify({ pings: sorted.length, lost, p50_ms: ms(quantile(sorted, 0.5)), p99_ms: ms(quantile(sorted, 0.99)), max_ms: ms(sorted.at(-1) ?? NaN) }),
  );
  console.log(`reproduce: npm run ping-probe -- --url ${o.url.href} --seconds ${o.seconds} --every ${o.everyMs} --reconnect ${o.reconnectS}`);
}

await main();
