// A write made against what was just read (the row's ETag, or an insert that expects no row) loses when
// another writer got there first; the write is then decided again from a fresh read. This is the one
// loop for that. What counts as a lost race is each caller's decision, as core-rest-pipeline keeps its
// retry loop apart from its strategies. A failed storage call is retried inside that call
// (callPolicy.ts), never here. Every loop that retries, and how often: docs/storage.md.

/** An attempt's answer when another writer won since its read: the next attempt reads again. */
export class LostRace {
  /** `error`: the storage outcome that said so (a 409 or a 412), for a caller that rethrows the last one. */
  constructor(readonly error: unknown) {}
}

/**
 * Runs `attempt` (numbered from 1) until it answers something other than a LostRace, at most `maxAttempts`
 * times; after the last lost race, the answer is `exhausted(lastRace)`, which may throw instead. An error
 * thrown by an attempt ends the loop at once.
 */
export async function retryLostRaces<T>(
  maxAttempts: number,
  attempt: (attemptNumber: number) => Promise<T | LostRace>,
  exhausted: (lastRace: LostRace) => T,
): Promise<T> {
  let lastRace = new LostRace(undefined);
  for (let attemptNumber = 1; attemptNumber <= maxAttempts; attemptNumber++) {
    const outcome = await attempt(attemptNumber);
    if (!(outcome instanceof LostRace)) return outcome;
    lastRace = outcome;
  }
  return exhausted(lastRace);
}
