/** Bounded waits for shutdown: each gives up at an epoch-ms deadline instead of hanging. */

/** Waits for `work` until `deadline`; true when it settled in time (a rejection counts as settled). */
export async function settleWithin(deadline: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work.then(
      () => true,
      () => true,
    ), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every few milliseconds until it holds or `deadline` passes; true when it held. */
export async function waitUntil(deadline: number, condition: () => boolean): Promise<boolean> {
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}
