import type { Caller } from '../auth/caller';
import { settings } from '../config';
import { forbidden } from '../errors/graphError';
import { listRecoveryKeys } from '../recoveryKeys/service';
import { revealDirectory, type OwnedDevice } from './directory';
import type { DeviceWithKeys } from './representation';

// "My devices": the signed-in user's registered devices (Graph ownedDevices, the other side of a
// device's registeredOwners) with their keys' metadata, for the self-service view. Never a password:
// that is GET recoveryKeys/{id}?$select=key, which checks ownership itself.

/** Devices one answer shows at most; keys per device at most. */
export const MAX_MY_DEVICES = 50;
const MAX_KEYS_PER_DEVICE = 20;

/** A device with its live keys' metadata. */
export async function withKeys(device: OwnedDevice): Promise<DeviceWithKeys> {
  const page = await listRecoveryKeys({ kind: 'deviceId', deviceId: device.deviceId }, MAX_KEYS_PER_DEVICE);
  return {
    ...device,
    recoveryKeys: page.items.map((key) => ({ id: key.id, volumeType: key.volumeType, createdDateTime: key.createdDateTime })),
  };
}

/** GET myDevices: 403 unless SELF_SERVICE_REVEAL is on and the caller is a user. */
export async function myDevices(caller: Caller): Promise<DeviceWithKeys[]> {
  if (!settings().selfServiceReveal) throw forbidden('Self-service reveal is not enabled on this service (SELF_SERVICE_REVEAL).');
  if (!caller.delegated || !caller.oid || caller.device) throw forbidden('My devices is for a signed-in user, not an app or a device.');
  const owned = await revealDirectory().ownedDevices(caller.oid.toLowerCase());
  return Promise.all(owned.slice(0, MAX_MY_DEVICES).map(withKeys));
}
