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
  /** Lets the callbacks already due run, then one turn of the event loop (where a due read starts). */
  const nextTurn = () => new Promise((r) => setImmediate(r));

  it('makes the keys asked in one turn one read, and batches what is asked while a read is in flight', async () => {
    const { reads, fetch, finish } = gatedFetch();
    const loader = new BatchLoader(fetch);
    const first = ['a', 'b', 'a'].map((k) => loader.load(k));
    // Nothing is read before the turn ends: the keys of the turn go together.
    expect(reads).toEqual([]);
    await nextTurn();
    expect(reads).toEqual([['a', 'b']]);
    const rest = ['b', 'c', 'b', 'missing'].map((k) => loader.load(k));
    await nextTurn();
    // One read in flight at most (the default): the next keys wait for it.
    expect(reads).toEqual([['a', 'b']]);
    finish(0);
    expect(await Promise.all(first)).toEqual(['A', 'B', 'A']);
    await nextTurn();
    // The four waiting calls became one read of three keys (b asked twice).
    expect(reads).toEqual([['a', 'b'], ['b', 'c', 'missing']]);
    finish(1);
    expect(await Promise.all(rest)).toEqual(['B', 'C', 'B', undefined]);
  });

  it('reads a lone key on the next turn, with no timer', async () => {
    const { reads, fetch, finish } = gatedFetch();
    const loader = new BatchLoader(fetch);
    const one = loader.load('a');
    await nextTurn();
    expect(reads).toEqual([['a']]);
    finish(0);
    expect(await one).toBe('A');
  });

  it('keeps at most `concurrency` reads in flight and at most maxBatch keys in one', async () => {
    const { reads, fetch, finish } = gatedFetch();
    const loader = new BatchLoader(fetch, { concurrency: 2, maxBatch: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((k) => loader.load(k));
    await nextTurn();
    expect(reads).toEqual([['a', 'b'], ['c', 'd']]);
    finish(0);
    await nextTurn();
    expect(reads).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    finish(1);
    finish(2);
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
