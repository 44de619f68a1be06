import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describeError } from '../../shared/errors/describeError';
import { DEFAULT_PROGRESS_EVERY_MS, stderrLine } from '../../shared/runs/progress';

// What the operator commands (npm run import, backup, restore, purge-expired, reencrypt, mirror:entra,
// inventory, coverage, token) share: the command line with --help and a usage line, option checks,
// error text without secrets, and exit codes. The exit codes mean the same for every command: 0 done;
// 1 done, but some items were not (each named on stderr); 2 it could not run or go on; 3 it stopped at
// its time budget (the next run resumes from its checkpoint).

/** A command-line option or setting that is wrong; its message says which and how. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Ends a command with `code`, whatever there was to say already said (after --help, or a wrong command line). */
export class CommandExit extends Error {
  override name = 'CommandExit';

  constructor(readonly code: number) {
    super(`exit code ${code}`);
  }
}

/** `value` as a whole number of at least `min`, `fallback` if absent; UsageError naming `name` otherwise. */
export function wholeNumber(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} takes a whole number of at least ${min}`);
  return n;
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** A command's name (the prefix of its lines), its usage line, and the options it takes besides --help. */
export interface CommandLine<Options extends OptionsConfig> {
  tool: string;
  usage: string;
  options: Options;
  /** Whether it takes arguments besides options (a file, a snapshot name); a stray one is a usage error otherwise. */
  allowPositionals?: boolean;
}

/** What node:util parseArgs makes of a command line of these options. */
export type ParsedCommandLine<Options extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: Options & { help: { type: 'boolean' } }; allowPositionals: true; strict: true }>
>;

/**
 * `args` parsed (node:util parseArgs, strict) and checked by `check`, which turns the parsed values into
 * what the command needs. `--help` writes the usage line to stderr and ends the command with 0. An
 * unknown option, a missing value, a stray argument or a UsageError from `check` writes `tool: why` and
 * the usage line, and ends it with 2. Any other error of `check` passes through.
 */
export function parseCommandLine<Options extends OptionsConfig, Checked>(
  command: CommandLine<Options>,
  check: (parsed: ParsedCommandLine<Options>) => Checked,
  args: readonly string[] = process.argv.slice(2),
): Checked {
  const config: ParseArgsConfig = {
    args: [...args],
    options: { ...command.options, help: { type: 'boolean' } },
    allowPositionals: command.allowPositionals === true,
    strict: true,
  };
  let parsed: ParsedCommandLine<Options>;
  try {
    // The precise type of these options' values: parseArgs cannot infer it through a config built here.
    parsed = parseArgs(config) as ParsedCommandLine<Options>;
  } catch (error) {
    throw wrongCommandLine(command, error);
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    stderrLine(command.usage);
    throw new CommandExit(0);
  }
  try {
    return check(parsed);
  } catch (error) {
    throw error instanceof UsageError ? wrongCommandLine(command, error) : error;
  }
}

function wrongCommandLine(command: CommandLine<OptionsConfig>, error: unknown): CommandExit {
  stderrLine(`${command.tool}: ${describeError(error)}\n${command.usage}`);
  return new CommandExit(2);
}

/** Runs a command's main and sets the process's exit code from it; an unexpected throw is exit code 2. */
export function runCommand(tool: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof CommandExit) {
        process.exitCode = error.code;
        return;
      }
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
  const options = parseCommandLine({ tool, usage, options: BUDGETED_RUN_OPTIONS }, ({ values }) => budgetedRunOptions(values, defaults));
  // Bad settings stop here, by name, never by value (runCommand writes `tool: why`; exit code 2).
  checkSettings();
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
