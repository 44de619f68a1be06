import { app, type InvocationContext, type Timer } from '@azure/functions';
import { settings } from '../shared/config';
import { computeCoverage } from '../shared/coverage/compute';

// The coverage report on a schedule (COVERAGE_SCHEDULE, NCRONTAB; unset = off): the same job as
// `npm run coverage`. A run cut off at its budget resumes at the next.

export async function coverageOnSchedule(_timer: Timer, context: InvocationContext): Promise<void> {
  const result = await computeCoverage({ report: (line) => context.log(line) });
  context.log(`coverage: ${result.complete ? 'published' : 'under way'}: ${JSON.stringify(result.head)}`);
}

const schedule = settings().coverageSchedule;
if (schedule !== undefined) app.timer('coverageReport', { schedule, handler: coverageOnSchedule });
