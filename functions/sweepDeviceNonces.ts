import { app, type InvocationContext, type Timer } from '@azure/functions';
import { sweepExpiredNonces } from '../shared/auth/device/nonceStore';
import { settings } from '../shared/config';

// Deletes expired device-proof nonces of every device, bounded per run, every 10 minutes; never in a
// device's request. Only with device authentication on: otherwise the table is never written. A
// missed run loses nothing: expired rows only take space, the replay check reads one row by its key.

const SCHEDULE = '0 */10 * * * *';

/** One bounded sweep; logs how many rows it deleted. */
export async function sweepDeviceNoncesOnTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const deleted = await sweepExpiredNonces(new Date());
  context.log(JSON.stringify({ event: 'sweepDeviceNonces', pastDue: timer.isPastDue, deleted }));
}

if (settings().deviceAuth !== 'off') app.timer('sweepDeviceNonces', { schedule: SCHEDULE, handler: sweepDeviceNoncesOnTimer });
