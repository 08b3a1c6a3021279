/**
 * The soak's verdict, a pure function of what it measured: the server is "flat" when its RSS,
 * heap in use and open file descriptors at the end are within a bound of their level after
 * warm-up, it still answers, it holds the connections, and the clients saw no error after warm-up.
 *
 * A level is taken over a window of samples: the median for RSS and open files; for the heap the
 * lowest sample, its floor after collections, since heap in use climbs between major collections
 * by tens of percent and only a rising floor is a leak. A run must be long enough for several
 * major collections (minutes) for the heap to be judged fairly.
 */

export interface Timed<T> {
  /** Seconds since the soak phase began. */
  at: number;
  value: T;
}

export interface Sample {
  rssBytes: number;
  heapUsedBytes: number;
  openFds: number;
}

export interface VerdictInput {
  samples: Array<Timed<Sample>>;
  warmupS: number;
  durationS: number;
  /** Growth allowed for RSS and heap, as a fraction of the level after warm-up. */
  tolerance: number;
  connections: number;
  heldAtEnd: number;
  serverUp: boolean;
  /** ERROR frames the clients received after warm-up. */
  errors: number;
  /** Connections the server closed or lost after warm-up that the clients did not close themselves. */
  unexpectedCloses: number;
}

export interface Verdict {
  flat: boolean;
  failures: string[];
  summary: string;
}

const MB = 1024 * 1024;
/** Absolute slack over the tolerance: a small heap swings by a few MB between collections. */
const RSS_SLACK_BYTES = 16 * MB;
const HEAP_SLACK_BYTES = 8 * MB;
/** Open files may differ by the connections being replaced at that moment. */
const FDS_SLACK_SHARE = 0.01;
const FDS_SLACK_MIN = 32;
/** Connections held at the end, as a share of those asked for (churn has a few in flight). */
const HELD_SHARE = 0.99;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function judge(input: VerdictInput): Verdict {
  const failures: string[] = [];
  const windowS = Math.min(Math.max(10, input.durationS * 0.2), (input.durationS - input.warmupS) / 2);
  const within = (from: number, to: number) => input.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.value);
  const base = within(input.warmupS, input.warmupS + windowS);
  const end = within(input.durationS - windowS, input.durationS);
  let summary = 'no samples after warm-up';
  if (base.length === 0 || end.length === 0) failures.push('too few /metrics samples after warm-up to judge');
  else {
    const level = (values: Sample[], field: keyof Sample) => median(values.map((v) => v[field]));
    const floor = (values: Sample[], field: keyof Sample) => Math.min(...values.map((v) => v[field]));
    const [rss0, rss1] = [level(base, 'rssBytes'), level(end, 'rssBytes')];
    const [heap0, heap1] = [floor(base, 'heapUsedBytes'), floor(end, 'heapUsedBytes')];
    const [fds0, fds1] = [level(base, 'openFds'), level(end, 'openFds')];
    const growth = (a: number, b: number) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;
    const peakRss = Math.max(...input.samples.map((s) => s.value.rssBytes));
    summary =
      `after warm-up (${input.warmupS}-${(input.warmupS + windowS).toFixed(0)} s) -> end (${(input.durationS - windowS).toFixed(0)}-${input.durationS} s): ` +
      `RSS ${(rss0 / MB).toFixed(1)} -> ${(rss1 / MB).toFixed(1)} MB (${growth(rss0, rss1)}), heap used (floor) ${(heap0 / MB).toFixed(1)} -> ${(heap1 / MB).toFixed(1)} MB (${growth(heap0, heap1)}), ` +
      `open fds ${fds0} -> ${fds1}; peak RSS ${(peakRss / MB).toFixed(1)} MB`;
    if (rss1 > rss0 * (1 + input.tolerance) + RSS_SLACK_BYTES) failures.push(`RSS grew ${growth(rss0, rss1)}`);
    if (heap1 > heap0 * (1 + input.tolerance) + HEAP_SLACK_BYTES) failures.push(`heap grew ${growth(heap0, heap1)}`);
    if (fds1 > fds0 + Math.max(FDS_SLACK_MIN, input.connections * FDS_SLACK_SHARE)) failures.push(`open fds grew from ${fds0} to ${fds1}`);
  }
  if (!input.serverUp) failures.push('the server stopped answering');
  if (input.heldAtEnd < input.connections * HELD_SHARE) failures.push(`${input.heldAtEnd} of ${input.connections} connections held at the end`);
  if (input.errors > 0) failures.push(`${input.errors} ERROR frames after warm-up`);
  if (input.unexpectedCloses > 0) failures.push(`${input.unexpectedCloses} connections closed by the server or lost after warm-up`);
  return { flat: failures.length === 0, failures, summary };
}
