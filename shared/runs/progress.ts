// Progress of a long run (the Entra mirror, the inventory, an import): counters, a line at most every
// `everyMs` on the progress stream (stderr for the commands, the function log for the timer), and the
// summary. Counts and rates only: never a key, a password or a token.

/** How often a progress line is written by default. */
export const DEFAULT_PROGRESS_EVERY_MS = 2_000;

/** The progress stream of a run started from the command line. */
export const stderrLine = (line: string): void => void process.stderr.write(`${line}\n`);

export class RunProgress<Counter extends string> {
  private readonly counts: Record<Counter, number>;
  private readonly startedAt = Date.now();
  private lastLine = Date.now();

  /**
   * @param tool prefix of every line, such as 'import'
   * @param counters the counters in the order lines show them; the first is the one the rate is of
   * @param write where progress lines go
   */
  constructor(
    private readonly tool: string,
    private readonly counters: readonly Counter[],
    private readonly write: (line: string) => void,
    private readonly everyMs = DEFAULT_PROGRESS_EVERY_MS,
  ) {
    this.counts = Object.fromEntries(counters.map((c) => [c, 0])) as Record<Counter, number>;
  }

  add(counter: Counter, n = 1): void {
    this.counts[counter] += n;
    if (Date.now() - this.lastLine >= this.everyMs) {
      this.lastLine = Date.now();
      this.write(`${this.tool}: ${this.describe()}`);
    }
  }

  get(counter: Counter): number {
    return this.counts[counter];
  }

  /** Every count, for a caller's summary object. */
  snapshot(): Record<Counter, number> {
    return { ...this.counts };
  }

  elapsedSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  /** '120 seen, 100 imported, …, 35.2 keys/s' */
  describe(): string {
    const seconds = this.elapsedSeconds();
    const rate = seconds > 0 ? this.counts[this.counters[0]] / seconds : 0;
    return `${this.counters.map((c) => `${this.counts[c]} ${c}`).join(', ')}, ${rate.toFixed(1)} keys/s`;
  }

  /** The closing line: every count, the rate and the duration. */
  summary(): string {
    return `${this.tool}: done: ${this.describe()} in ${this.elapsedSeconds().toFixed(1)} s`;
  }
}
