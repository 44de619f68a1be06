/**
 * Runs the calls given the same key one after another on this instance, others freely. The per-device
 * cap is a count then a write: without this, a device sending a hundred new keys at once passed the
 * count with all of them. Across instances writes can still race, so the cap may be passed by at most
 * one write per instance.
 */
export class OneAtATime {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, call: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(call, call);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // The last in line leaves no entry behind: the map holds only devices with a write in flight.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
