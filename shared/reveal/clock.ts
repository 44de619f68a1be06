// The reveal rules' clock: approvals and grants expire by it. Tests move it forward (an approval's
// hours pass in a test's milliseconds); the app never replaces it.

let current: () => number = Date.now;

export const revealNow = (): Date => new Date(current());

/** For tests: `undefined` puts the real clock back. */
export function useRevealClock(clock: (() => number) | undefined): void {
  current = clock ?? Date.now;
}
