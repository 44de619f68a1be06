import type { Caller } from '../auth/caller';

/** Who acted, as an alert names them: the user's UPN (and object id), an app id, or a device. */
export function actorOf(caller: Caller): string {
  if (caller.device) return `device ${caller.device.deviceId}`;
  if (caller.upn !== undefined) return caller.oid === undefined ? caller.upn : `${caller.upn} (${caller.oid})`;
  if (caller.oid !== undefined)
    return `${caller.delegated ? 'user' : 'app'} ${caller.oid}${caller.appId ? ` via app ${caller.appId}` : ''}`;
  return `app ${caller.appId ?? 'unknown'}`;
}
