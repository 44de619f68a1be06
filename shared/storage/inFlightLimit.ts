/**
 * A bound on storage calls in flight, shared by every request of this instance that takes it.
 * `run(task)` starts `task` at once while fewer than `limit` are running, otherwise when one ends;
 * waiting calls start in arrival order. Errors of a task pass through to its caller.
 *
 * Written here rather than taken from p-limit: p-limit 4+ is ESM-only and this app is CommonJS,
 * and the whole need is a counter and a queue.
 */
export class InFlightLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((start) => this.waiting.push(start));
    else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so `running` never dips and lets a newcomer cut in.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
