/**
 * write-batches.ts over a real loopback TCP pair: what is written to a socket in one turn stays in
 * Node's buffer until the turn's end and then leaves together, in order; sockets corked by
 * someone else are left to them.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteBatches } from '../../src/transport/write-batches.js';

const opened: net.Socket[] = [];
let server: net.Server | undefined;

afterEach(async () => {
  for (const s of opened.splice(0)) s.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A connected pair: `local` is written to, `received` collects what `remote` reads. */
async function pair(): Promise<{ local: net.Socket; received: () => string }> {
  let text = '';
  const accepted = new Promise<net.Socket>((resolve) => {
    server = net.createServer((remote) => {
      opened.push(remote);
      remote.on('data', (chunk: Buffer) => (text += chunk.toString()));
      resolve(remote);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const local = net.connect((server!.address() as net.AddressInfo).port, '127.0.0.1');
  opened.push(local);
  await Promise.all([accepted, new Promise((resolve) => local.once('connect', resolve))]);
  return { local, received: () => text };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('WriteBatches', () => {
  it('holds a turn\'s writes to a socket in its buffer and sends them together, in order, at the turn\'s end', async () => {
    const writes = new WriteBatches();
    const { local, received } = await pair();
    for (const part of ['a', 'b', 'c']) {
      writes.gather(local);
      local.write(part);
    }
    expect(local.writableCorked).toBe(1);
    expect(local.writableLength).toBe(3);
    await nextTurn();
    expect(local.writableCorked).toBe(0);
    await expect.poll(received).toBe('abc');

    // The next turn gathers again.
    writes.gather(local);
    local.write('d');
    expect(local.writableLength).toBe(1);
    await expect.poll(received).toBe('abcd');
  });

  it('leaves a socket corked by someone else to them, and survives one destroyed before the turn\'s end', async () => {
    const writes = new WriteBatches();
    const [first, second] = [await pair(), await pair()];
    first.local.cork();
    writes.gather(first.local);
    first.local.write('held');
    writes.gather(second.local);
    second.local.write('lost');
    second.local.destroy();
    await nextTurn();
    expect(first.local.writableCorked).toBe(1);
    expect(first.received()).toBe('');
    first.local.uncork();
    await expect.poll(first.received).toBe('held');
  });
});
