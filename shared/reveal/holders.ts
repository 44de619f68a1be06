import type { Caller } from '../auth/caller';
import { isAllowed } from '../auth/permissions';
import type { HolderVisibility } from '../recoveryKeys/service';
import { isScoped, visibleDevices } from './scopes';
import { isSelfService, ownsDevice } from './selfService';

// A key id held by several devices (a cloned disk, a device claiming another's id) is answered with a
// 409 naming its devices. Named to a caller who may see only some devices, that would tell of keys
// hidden from them; such a caller is answered over the holders it may see instead (service.ts readLiveKey).

/**
 * Which holders of a shared id the caller may see, for a metadata read (`metadata`) or a key read or
 * reveal request (`reveal`); undefined for a caller who sees every device (a role without REVEAL_SCOPES,
 * an app, a device, which names its own id). Asks Graph only when an id has several holders.
 */
export function holderVisibility(caller: Caller, use: 'metadata' | 'reveal'): HolderVisibility | undefined {
  if (caller.device) return undefined;
  // As the reveal rules decide (policy.ts): a reader without Read.All reads only as a self-service owner.
  if (use === 'reveal' && !isAllowed(caller, 'readKey')) {
    return isSelfService(caller) ? (key) => ownsDevice(caller, key.deviceId) : undefined;
  }
  if (!isScoped(caller)) return undefined;
  return async (key) => (await visibleDevices(caller))!(key.deviceId);
}
