/**
 * Runs `task` over `items` with at most `limit` in flight, until all are done or `shouldStop()` says
 * so (checked before each item is started; items already started finish). The number of items started.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
  shouldStop: () => boolean = () => false,
): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !shouldStop()) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return next;
}

/**
 * Runs `task` over what `items` yields with at most `limit` in flight, taking the next item only when a
 * place is free: a stream of any length (the rows of a file) is held `limit` items at a time. `task`
 * must not throw (it reports its own failures); the loop stops when `shouldStop()` says so.
 */
export async function forEachOfStream<T>(
  items: AsyncIterable<T>,
  limit: number,
  task: (item: T) => Promise<void>,
  shouldStop: () => boolean = () => false,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  try {
    for await (const item of items) {
      while (inFlight.size >= limit) await Promise.race(inFlight);
      if (shouldStop()) break;
      const running: Promise<void> = task(item).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
  } finally {
    await Promise.all(inFlight);
  }
}
