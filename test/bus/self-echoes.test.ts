import { describe, expect, it } from 'vitest';
import { SelfEchoes } from '../../src/bus/self-echoes.js';

describe('SelfEchoes', () => {
  function make() {
    const clock = { now: 0 };
    return { clock, echoes: new SelfEchoes({ maxAgeMs: 10_000, now: () => clock.now }) };
  }

  it('is clear once every envelope addressed to this node came back', () => {
    const { echoes } = make();
    expect(echoes.clear).toBe(true);
    const [a, b] = [echoes.sent(), echoes.sent()];
    expect(echoes.clear).toBe(false);
    expect(echoes.received(a)).toBe(true);
    echoes.settle(a);
    expect(echoes.clear).toBe(false);
    echoes.settle(b);
    expect(echoes.clear).toBe(false);
    expect(echoes.received(b)).toBe(true);
    expect(echoes.clear).toBe(true);
  });

  it('an echo that came back does not keep the node from handing over directly while its publisher is still at work', () => {
    const { echoes } = make();
    const n = echoes.sent();
    expect(echoes.received(n)).toBe(true);
    expect(echoes.clear).toBe(true);
  });

  it('ONCE: a publisher that falls back hands the event over only if its echo has not come back, and a later echo is dropped', () => {
    const { echoes } = make();
    const late = echoes.sent();
    expect(echoes.handOver(late)).toBe(true);
    // Its publish had acted after all: the echo comes back afterwards.
    expect(echoes.clear).toBe(false);
    expect(echoes.received(late)).toBe(false);
    expect(echoes.clear).toBe(true);

    const early = echoes.sent();
    expect(echoes.received(early)).toBe(true);
    expect(echoes.handOver(early)).toBe(false);
    expect(echoes.clear).toBe(true);
  });

  it('a second fallback for the same envelope (a parked message whose force failed after a timeout) hands nothing over again', () => {
    const { echoes } = make();
    const n = echoes.sent();
    expect(echoes.handOver(n)).toBe(true);
    echoes.settle(n);
    expect(echoes.handOver(n)).toBe(false);
  });

  it('an event not addressed to this node is handed over by a fallback, and settling it does nothing', () => {
    const { echoes } = make();
    expect(echoes.handOver(undefined)).toBe(true);
    echoes.settle(undefined);
    expect(echoes.clear).toBe(true);
  });

  it('forgets numbers that never came back after maxAgeMs, and all but those back when the subscription is renewed', () => {
    const { clock, echoes } = make();
    echoes.sent();
    clock.now = 10_001;
    expect(echoes.clear).toBe(true);
    const [back, lost, handed] = [echoes.sent(), echoes.sent(), echoes.sent()];
    expect(echoes.received(back)).toBe(true);
    expect(echoes.handOver(handed)).toBe(true);
    echoes.reset();
    expect(echoes.clear).toBe(true);
    // Its publisher still knows the echo came back; one whose echo was lost with the old
    // subscription is handed over by its publisher.
    expect(echoes.handOver(back)).toBe(false);
    expect(echoes.handOver(lost)).toBe(true);
  });
});
