/**
 * How many cases each fuzz property runs, and how to replay one. Every property states its CI
 * count; `FUZZ_RUNS` multiplies it (FUZZ_RUNS=20 for a long local run). A failure prints the
 * property's seed and the path of the shrunk counterexample; `FUZZ_SEED` and `FUZZ_PATH` (with
 * `-t` naming that property) replay exactly that case.
 */
import fc, { type Parameters } from 'fast-check';

function positive(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

const multiplier = positive('FUZZ_RUNS') ?? 1;
const seedText = process.env.FUZZ_SEED;
const seed = seedText === undefined || seedText === '' ? undefined : Number(seedText);
if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(seedText)}`);
const path = process.env.FUZZ_PATH === '' ? undefined : process.env.FUZZ_PATH;

/**
 * fast-check parameters for a property that runs `runs` cases in CI. Cases run against a real
 * node, so shrinking a failure replays many of them: after `budgetMs` (scaled like the runs) the
 * run stops and reports the smallest counterexample found so far.
 */
export function fuzzParameters<T>(runs: number, budgetMs: number): Parameters<T> {
  return {
    numRuns: Math.max(1, Math.round(runs * multiplier)),
    plugins: [fc.interruptAfterTimeLimit(scaled(budgetMs))],
    ...(seed === undefined ? {} : { seed }),
    // Replaying one path means running that case alone, then stopping at its failure.
    ...(path === undefined ? {} : { path, endOnFailure: true }),
  };
}

/** The vitest deadline of a property run with `fuzzParameters(runs, budgetMs)`: its budget and some. */
export function fuzzTimeoutMs(budgetMs: number): number {
  return scaled(budgetMs) + 30_000;
}

function scaled(ms: number): number {
  return Math.round(ms * Math.max(1, multiplier));
}
