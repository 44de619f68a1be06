import { settings } from '../../shared/config';
import { computeCoverage, DEFAULT_COVERAGE_BUDGET_MS } from '../../shared/coverage/compute';
import { csvHeader, csvLine } from '../../shared/coverage/csv';
import { COVERAGE_STATES, type CoverageState } from '../../shared/coverage/model';
import { readLatest, scanRows } from '../../shared/coverage/store';
import { describeError } from '../../shared/errors/describeError';
import { stderrLine } from '../../shared/runs/progress';
import { parseCommandLine, runCommand, UsageError, wholeNumber } from './commandLine';

// `npm run coverage`: computes the escrow coverage report (docs/coverage.md), the same job as the timer
// (functions/coverage.ts), and prints the report's head (id, time, summary) as JSON on stdout.
// `--csv` prints the latest report's rows as CSV instead (with `--state S`, one state's), computing
// nothing; `--csv --compute` computes first. Exit code 0 when a report was published (or printed);
// 2 when it could not run; 3 when it stopped at its budget (run it again to go on).

const COMMAND = {
  tool: 'coverage',
  usage: 'usage: npm run coverage [-- --budget SECONDS] | [-- --csv [--state STATE] [--compute]]',
  options: { budget: { type: 'string' }, csv: { type: 'boolean' }, compute: { type: 'boolean' }, state: { type: 'string' } },
} as const;

const isCoverageState = (value: string): value is CoverageState => (COVERAGE_STATES as readonly string[]).includes(value);

async function writeCsv(state: CoverageState | undefined): Promise<number> {
  const latest = await readLatest();
  if (!latest) {
    stderrLine('coverage: no report has been computed yet; run npm run coverage first');
    return 2;
  }
  const write = (text: string): Promise<void> =>
    new Promise((resolve) => (process.stdout.write(text) ? resolve() : process.stdout.once('drain', resolve)));
  await write(csvHeader());
  for await (const row of scanRows(latest.latest.reportId, state)) await write(csvLine(row));
  return 0;
}

async function main(): Promise<number> {
  const { csv, compute, state, budgetMs } = parseCommandLine(COMMAND, ({ values }) => {
    if (values.state !== undefined && !isCoverageState(values.state))
      throw new UsageError(`--state must be one of ${COVERAGE_STATES.join(', ')}`);
    return {
      csv: values.csv === true,
      compute: values.compute === true,
      state: values.state,
      budgetMs: wholeNumber(values.budget, '--budget', DEFAULT_COVERAGE_BUDGET_MS / 1000, 1) * 1000,
    };
  });
  // Bad settings stop here (runCommand: exit code 2), by name, never by value.
  settings();
  try {
    if (!csv || compute) {
      const result = await computeCoverage({ budgetMs, report: stderrLine });
      if (!csv) process.stdout.write(`${JSON.stringify(result.head, null, 2)}\n`);
      else stderrLine(`coverage: ${JSON.stringify(result.head.summary)}`);
      if (!result.complete) return 3;
    }
    return csv ? await writeCsv(state) : 0;
  } catch (error) {
    stderrLine(`coverage: stopped: ${describeError(error)}. Rows written so far stay; the next run resumes from the checkpoint.`);
    return 2;
  }
}

if (require.main === module) runCommand(COMMAND.tool, main);
