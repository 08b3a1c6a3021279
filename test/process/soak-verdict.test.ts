/**
 * The verdict of `npm run soak` (scripts/soak-verdict.ts): flat when the server's RSS, heap and
 * open files at the end are within their bound of the level after warm-up, and nothing else failed.
 */
import { describe, expect, it } from 'vitest';
import { judge, type Sample, type Timed, type VerdictInput } from '../../scripts/soak-verdict.js';

const MB = 1024 * 1024;

/** One sample a second for 60 s, from `at(t)`. */
function samples(at: (t: number) => Sample): Array<Timed<Sample>> {
  return Array.from({ length: 61 }, (_, t) => ({ at: t, value: at(t) }));
}

function input(over: Partial<VerdictInput>): VerdictInput {
  return {
    samples: samples(() => ({ rssBytes: 200 * MB, heapUsedBytes: 60 * MB, openFds: 2030 })),
    warmupS: 12,
    durationS: 60,
    tolerance: 0.2,
    connections: 2000,
    heldAtEnd: 2000,
    serverUp: true,
    errors: 0,
    unexpectedCloses: 0,
    ...over,
  };
}

describe('soak verdict', () => {
  it('is flat for steady figures, and for a heap that swings between collections', () => {
    expect(judge(input({})).flat).toBe(true);
    const sawtooth = samples((t) => ({ rssBytes: 200 * MB, heapUsedBytes: (40 + (t % 7) * 6) * MB, openFds: 2030 + (t % 3) }));
    expect(judge(input({ samples: sawtooth }))).toMatchObject({ flat: true, failures: [] });
  });

  it('is not flat when memory or open files keep growing after warm-up', () => {
    const rss = judge(input({ samples: samples((t) => ({ rssBytes: (200 + 2 * t) * MB, heapUsedBytes: 60 * MB, openFds: 2030 })) }));
    expect(rss.flat).toBe(false);
    expect(rss.failures).toEqual([expect.stringMatching(/^RSS grew/)]);
    const heap = judge(input({ samples: samples((t) => ({ rssBytes: 200 * MB, heapUsedBytes: (60 + t) * MB, openFds: 2030 })) }));
    expect(heap.failures).toEqual([expect.stringMatching(/^heap grew/)]);
    const fds = judge(input({ samples: samples((t) => ({ rssBytes: 200 * MB, heapUsedBytes: 60 * MB, openFds: 2030 + 2 * t })) }));
    expect(fds.failures).toEqual([expect.stringMatching(/^open fds grew/)]);
  });

  it('ignores what happens before warm-up ends', () => {
    const rampUp = samples((t) => ({ rssBytes: (t < 12 ? 50 + 12 * t : 200) * MB, heapUsedBytes: 60 * MB, openFds: t < 12 ? 100 * t : 2030 }));
    expect(judge(input({ samples: rampUp })).flat).toBe(true);
  });

  it('fails on a server that stopped answering, lost connections, errors, or too few samples', () => {
    expect(judge(input({ serverUp: false })).failures).toEqual(['the server stopped answering']);
    expect(judge(input({ heldAtEnd: 1900 })).failures).toEqual(['1900 of 2000 connections held at the end']);
    expect(judge(input({ errors: 3, unexpectedCloses: 2 })).failures).toHaveLength(2);
    expect(judge(input({ samples: [] })).failures).toEqual(['too few /metrics samples after warm-up to judge']);
  });
});
