import { app, type InvocationContext, type Timer } from '@azure/functions';
import { settings } from '../shared/config';
import { runInventory } from '../shared/inventory/run';

// The device inventory on a schedule (INVENTORY_SCHEDULE, NCRONTAB; unset = off): the same job as
// `npm run inventory`. Each run stops at its time budget and the next one resumes from the checkpoint.

export async function inventoryOnSchedule(_timer: Timer, context: InvocationContext): Promise<void> {
  const result = await runInventory({ report: (line) => context.log(line) });
  context.log(result.summary);
}

const schedule = settings().inventorySchedule;
if (schedule !== undefined) app.timer('deviceInventory', { schedule, handler: inventoryOnSchedule });
