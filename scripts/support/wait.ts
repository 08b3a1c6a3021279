/**
 * The one poller of the scripts, the benchmark and the tests, for conditions no event announces
 * (an HTTP status, a row, a Redis key). Where an event or a fence can prove a state, use that
 * instead: a poll shows that something happened, never that something did not.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Checks `condition` every `intervalMs` until it holds; resolves with the time that took, in ms.
 * Rejects naming `what` after `timeoutMs`, or with the error `condition` throws (to give up early).
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(intervalMs);
  }
  return Date.now() - started;
}
