import { app, type InvocationContext, type Timer } from '@azure/functions';
import { processIntuneRotations } from '../shared/alerts/intuneRotation';
import { settings } from '../shared/config';

// With INTUNE_ROTATE_ON_REVEAL=true, every minute: asks Intune to rotate the BitLocker keys of devices
// whose key was read since (queued by the read, shared/alerts/intuneRotation.ts). A timer rather than
// work after the read's answer: the Functions host does not wait for work a function leaves running.

const SCHEDULE = '0 */1 * * * *';

/** One run of the queue; logs its counts. */
export async function intuneRotationsOnTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const run = await processIntuneRotations();
  context.log(JSON.stringify({ event: 'intuneRotations', pastDue: timer.isPastDue, ...run }));
}

if (settings().intuneRotateOnReveal) app.timer('intuneRotations', { schedule: SCHEDULE, handler: intuneRotationsOnTimer });
