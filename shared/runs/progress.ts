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
  /** Of the first counter, what was counted without being done in this run (skipAhead): left out of the rate. */
  private untimed = 0;
  /** How many the first counter will reach, when known: lines then say how many are left and about how long. */
  total?: number;

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

  /** Counts `n` the run passes over without doing them (rows an earlier run finished): not in the rate. */
  skipAhead(counter: Counter, n: number): void {
    if (counter === this.counters[0]) this.untimed += n;
    this.add(counter, n);
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

  /** '120 seen, 100 imported, …, 35.2 keys/s', then with a total ', 880 to go, about 25 s left' */
  describe(): string {
    const seconds = this.elapsedSeconds();
    const done = this.counts[this.counters[0]];
    const rate = seconds > 0 ? (done - this.untimed) / seconds : 0;
    const counts = `${this.counters.map((c) => `${this.counts[c]} ${c}`).join(', ')}, ${rate.toFixed(1)} keys/s`;
    if (this.total === undefined || done >= this.total) return counts;
    const left = this.total - done;
    return `${counts}, ${left} to go${rate > 0 ? `, about ${Math.ceil(left / rate)} s left` : ''}`;
  }

  /** The closing line: every count, the rate and the duration. */
  summary(): string {
    return `${this.tool}: done: ${this.describe()} in ${this.elapsedSeconds().toFixed(1)} s`;
  }
}
