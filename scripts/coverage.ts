import { parseArgs } from 'node:util';
import { describeError, runCommand, stderrLine, UsageError, wholeNumber } from '../shared/adoption/commandLine';
import { settings } from '../shared/config';
import { computeCoverage, DEFAULT_COVERAGE_BUDGET_MS } from '../shared/coverage/compute';
import { csvHeader, csvLine } from '../shared/coverage/csv';
import { COVERAGE_STATES, type CoverageState } from '../shared/coverage/model';
import { readLatest, scanRows } from '../shared/coverage/store';

// `npm run coverage`: computes the escrow coverage report (docs/coverage.md), the same job as the timer
// (functions/coverage.ts), and prints the report's head (id, time, summary) as JSON on stdout.
// `--csv` prints the latest report's rows as CSV instead (with `--state S`, one state's), computing
// nothing; `--csv --compute` computes first. Exit code 0 when a report was published (or printed);
// 2 when it could not run; 3 when it stopped at its budget (run it again to go on).

const usage = 'usage: npm run coverage [-- --budget SECONDS] | [-- --csv [--state STATE] [--compute]]';

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
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        budget: { type: 'string' },
        csv: { type: 'boolean' },
        compute: { type: 'boolean' },
        state: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
    if (values.help) {
      stderrLine(usage);
      return 0;
    }
    if (values.state !== undefined && !(COVERAGE_STATES as readonly string[]).includes(values.state))
      throw new UsageError(`--state must be one of ${COVERAGE_STATES.join(', ')}`);
    settings();
  } catch (error) {
    stderrLine(`coverage: ${describeError(error)}${error instanceof UsageError ? `\n${usage}` : ''}`);
    return 2;
  }
  try {
    if (!values.csv || values.compute) {
      const budgetMs = wholeNumber(values.budget, '--budget', DEFAULT_COVERAGE_BUDGET_MS / 1000, 1) * 1000;
      const result = await computeCoverage({ budgetMs, report: stderrLine });
      if (!values.csv) process.stdout.write(`${JSON.stringify(result.head, null, 2)}\n`);
      else stderrLine(`coverage: ${JSON.stringify(result.head.summary)}`);
      if (!result.complete) return 3;
    }
    return values.csv ? await writeCsv(values.state as CoverageState | undefined) : 0;
  } catch (error) {
    stderrLine(`coverage: stopped: ${describeError(error)}. Rows written so far stay; the next run resumes from the checkpoint.`);
    return 2;
  }
}

if (require.main === module) runCommand('coverage', main);
