/**
 * The shared clock of a gateway's connections (src/transport/deadlines.ts): never early, in
 * order, a cancelled deadline never fires, one failing callback does not stop the others. Each
 * "did not fire" is proven by a later deadline that did (slots fire in order), never by a sleep.
 */
import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../src/transport/deadlines.js';

const TICK_MS = 5;

function clock(errors: unknown[] = []): Deadlines {
  return new Deadlines({ tickMs: TICK_MS, onError: (err) => errors.push(err) });
}

/** Resolves when a deadline at `at` fires. */
function fence(c: Deadlines, at: number): Promise<number> {
  return new Promise((resolve) => c.schedule(at, () => resolve(Date.now())));
}

describe('Deadlines', () => {
  it('fires each deadline at or after its time, in order of time', async () => {
    const c = clock();
    const start = Date.now();
    const fired: Array<[number, number]> = [];
    for (const offset of [40, 10, 25, 10]) c.schedule(start + offset, () => fired.push([offset, Date.now()]));
    await fence(c, start + 50);
    expect(fired.map(([offset]) => offset)).toEqual([10, 10, 25, 40]);
    for (const [offset, at] of fired) expect(at).toBeGreaterThanOrEqual(start + offset);
    expect(c.size).toBe(0);
  });

  it('calls one shared function with each deadline\'s own target', async () => {
    const c = clock();
    const now = Date.now();
    const fired: string[] = [];
    const note = (target: { name: string }): void => void fired.push(target.name);
    c.schedule(now + 20, note, { name: 'b' });
    c.schedule(now + 10, note, { name: 'a' });
    c.cancel(c.schedule(now + 15, note, { name: 'cancelled' }));
    await fence(c, now + 30);
    expect(fired).toEqual(['a', 'b']);
  });

  it('a cancelled deadline never fires, and a callback can cancel another due in the same slot', async () => {
    const c = clock();
    const now = Date.now();
    const fired: string[] = [];
    const cancelled = c.schedule(now + 10, () => fired.push('cancelled'));
    expect(c.cancel(cancelled)).toBeNull();
    expect(c.cancel(cancelled)).toBeNull(); // twice is harmless
    let second: ReturnType<Deadlines['schedule']> | null = null;
    c.schedule(now + 20, () => {
      fired.push('first');
      second = c.cancel(second);
    });
    second = c.schedule(now + 20, () => fired.push('second'));
    await fence(c, now + 40);
    expect(fired).toEqual(['first']);
    expect(c.size).toBe(0);
  });

  it('a deadline already past fires on the next tick; one that throws does not stop the others', async () => {
    const errors: unknown[] = [];
    const c = clock(errors);
    const fired: string[] = [];
    c.schedule(Date.now() - 1000, () => {
      throw new Error('boom');
    });
    c.schedule(Date.now() - 1000, () => fired.push('past'));
    await fence(c, Date.now());
    expect(fired).toEqual(['past']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
  });

  it('a deadline scheduled from a callback for a time already due still fires', async () => {
    const c = clock();
    const fired: string[] = [];
    c.schedule(Date.now() + 5, () => c.schedule(Date.now() - 1, () => fired.push('rescheduled')));
    await fence(c, Date.now() + 30);
    expect(fired).toEqual(['rescheduled']);
  });

  it('starts again after running empty, and close() forgets everything', async () => {
    const c = clock();
    await fence(c, Date.now() + 5);
    expect(c.size).toBe(0);
    await fence(c, Date.now() + 5); // the interval stopped when empty and started again
    const fired: string[] = [];
    c.schedule(Date.now() + 5, () => fired.push('after close'));
    c.close();
    expect(c.size).toBe(0);
    // Used again after close, it runs again; the forgotten deadline's time passes with nothing fired.
    await fence(c, Date.now() + 20);
    expect(fired).toEqual([]);
    c.close();
  });
});
