import { app, type InvocationContext, type Timer } from '@azure/functions';
import { settings } from '../shared/config';
import { runEntraMirror } from '../shared/entraMirror/mirror';

// The Entra mirror on a schedule (ENTRA_MIRROR_SCHEDULE, NCRONTAB; unset = off). The same job as
// `npm run mirror:entra`; each run stops at its time budget and the next one resumes from the checkpoint.
// Azure runs a timer function on one instance at a time, so runs never overlap.

/** One scheduled run: progress and the summary go to the function log (counts and key ids, never a key). */
export async function mirrorEntraOnSchedule(_timer: Timer, context: InvocationContext): Promise<void> {
  const result = await runEntraMirror({ report: (line) => context.log(line) });
  const failed = result.counts.failed + result.counts.conflicts;
  if (failed > 0) context.warn(`${result.summary} (${failed} key(s) not mirrored: see the lines above)`);
  else context.log(result.summary);
}

const schedule = settings().entraMirrorSchedule;
if (schedule !== undefined) {
  app.timer('entraMirror', { schedule, handler: mirrorEntraOnSchedule });
}
