import { asGraphError } from '../errors/asGraphError';
import { GraphError } from '../errors/graphError';
import { withoutSecrets } from '../redact';

// What the adoption commands (scripts/import.ts, scripts/mirrorEntra.ts) share: option checks, error
// text without secrets, and exit codes.

/** A command-line option or setting that is wrong; its message says which and how. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `value` as a whole number of at least `min`, `fallback` if absent; UsageError naming `name` otherwise. */
export function wholeNumber(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} takes a whole number of at least ${min}`);
  return n;
}

/** An error's message, masked (a password or token in it is never printed). */
export const describeError = (error: unknown): string => (error instanceof Error ? withoutSecrets(error.message) : 'unexpected error');

/** Why one key was not stored, for a per-key report line: status and message, masked. */
export const failureReason = (error: unknown): string => {
  const answer = asGraphError(error);
  return answer instanceof GraphError ? withoutSecrets(`${answer.status} ${answer.code}: ${answer.message}`) : describeError(answer);
};

export const stderrLine = (line: string): void => void process.stderr.write(`${line}\n`);

/** Runs a command's main and sets the process's exit code from it; an unexpected throw is exit code 2. */
export function runCommand(tool: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      stderrLine(`${tool}: ${describeError(error)}`);
      process.exitCode = 2;
    },
  );
}
