import { describe, expect, it } from 'vitest';
import { BatchLoader } from '../../src/core/batch-loader.js';

/** A fetch whose reads finish when the test says so, recording the keys of each read. */
function gatedFetch() {
  const reads: string[][] = [];
  const gates: Array<() => void> = [];
  const fetch = (keys: string[]) =>
    new Promise<Map<string, string>>((resolve) => {
      reads.push(keys);
      gates.push(() => resolve(new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.toUpperCase()]))));
    });
  return { reads, fetch, finish: (i: number) => gates[i]?.() };
}

describe('BatchLoader', () => {
  it('reads at once when idle, and batches what is asked while reads are in flight', async () => {
    const { reads, fetch, finish } = gatedFetch();
    const loader = new BatchLoader(fetch, { concurrency: 1 });
    const first = loader.load('a');
    const rest = ['b', 'c', 'b', 'missing'].map((k) => loader.load(k));
    expect(reads).toEqual([['a']]);
    finish(0);
    expect(await first).toBe('A');
    await Promise.resolve();
    // The four waiting calls became one read of three keys (b asked twice).
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual([['a'], ['b', 'c', 'missing']]);
    finish(1);
    expect(await Promise.all(rest)).toEqual(['B', 'C', 'B', undefined]);
  });

  it('keeps at most `concurrency` reads in flight and at most maxBatch keys in one', async () => {
    const { reads, fetch, finish } = gatedFetch();
    const loader = new BatchLoader(fetch, { concurrency: 2, maxBatch: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((k) => loader.load(k));
    expect(reads).toEqual([['a'], ['b']]);
    finish(0);
    await new Promise((r) => setImmediate(r));
    expect(reads).toEqual([['a'], ['b'], ['c', 'd']]);
    finish(1);
    await new Promise((r) => setImmediate(r));
    finish(2);
    await new Promise((r) => setImmediate(r));
    finish(3);
    expect(await Promise.all(all)).toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('rejects every caller of a failed read, and reads again afterwards', async () => {
    let fail = true;
    const loader = new BatchLoader<string, string>(async (keys) => {
      if (fail) throw new Error('database unavailable');
      return new Map(keys.map((k) => [k, k]));
    });
    await expect(loader.load('a')).rejects.toThrow('database unavailable');
    fail = false;
    expect(await loader.load('a')).toBe('a');
  });
});
