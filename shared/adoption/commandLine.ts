import { parseArgs } from 'node:util';
import { asGraphError } from '../errors/asGraphError';
import { GraphError } from '../errors/graphError';
import { withoutSecrets } from '../redact';
import { DEFAULT_PROGRESS_EVERY_MS } from './progress';

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

/** parseArgs options of a run that stops at a time budget and resumes (mirror:entra, inventory). */
export const BUDGETED_RUN_OPTIONS = {
  budget: { type: 'string' },
  concurrency: { type: 'string' },
  'progress-every': { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** A budgeted run's --budget (seconds), --concurrency and --progress-every (ms), checked; UsageError naming a bad one. */
export function budgetedRunOptions(
  values: { budget?: string; concurrency?: string; 'progress-every'?: string },
  defaults: { budgetMs: number; concurrency: number },
): { budgetMs: number; concurrency: number; progressEveryMs: number } {
  return {
    budgetMs: wholeNumber(values.budget, '--budget', defaults.budgetMs / 1000, 1) * 1000,
    concurrency: wholeNumber(values.concurrency, '--concurrency', defaults.concurrency, 1),
    progressEveryMs: wholeNumber(values['progress-every'], '--progress-every', DEFAULT_PROGRESS_EVERY_MS, 0),
  };
}

/** What a budgeted run reports back to its command. */
export interface BudgetedRunOutcome {
  summary: string;
  /** The run reached the end of its listing. */
  complete: boolean;
  /** Some items were not done (each named on the progress stream). */
  failed?: boolean;
}

/**
 * The main of a budgeted command: options, settings (`checkSettings` throws naming a bad one), the run,
 * its summary on stdout. Exit code 0 when complete, 1 when some items failed, 2 when it could not run
 * or go on (`stoppedNote` says what stays), 3 when it stopped at its budget.
 */
export async function budgetedCommand(
  tool: string,
  usage: string,
  defaults: { budgetMs: number; concurrency: number },
  checkSettings: () => void,
  stoppedNote: string,
  run: (options: ReturnType<typeof budgetedRunOptions>) => Promise<BudgetedRunOutcome>,
): Promise<number> {
  let options;
  try {
    const { values } = parseArgs({ options: BUDGETED_RUN_OPTIONS });
    if (values.help) {
      stderrLine(usage);
      return 0;
    }
    options = budgetedRunOptions(values, defaults);
    // Bad settings stop here, by name, never by value.
    checkSettings();
  } catch (error) {
    stderrLine(`${tool}: ${describeError(error)}${error instanceof UsageError ? `\n${usage}` : ''}`);
    return 2;
  }
  let result;
  try {
    result = await run(options);
  } catch (error) {
    stderrLine(`${tool}: stopped: ${describeError(error)}. ${stoppedNote}`);
    return 2;
  }
  process.stdout.write(`${result.summary}\n`);
  if (result.failed) return 1;
  return result.complete ? 0 : 3;
}
