import { asIfAbsent, forbidden, type GraphError } from '../../errors/graphError';
import { keyNotFound } from '../../recoveryKeys/notFound';
import type { Caller } from '../caller';
import type { DeviceIdentity } from './verifier';

// What a device principal may do on its own records (docs/devices.md): escrow keys of its own
// deviceId, list its own keys' metadata, and delete its own key once a successor has replaced it. Which
// operations a device may attempt at all is its column of the permission matrix
// (shared/auth/permissions.ts); which key a write or a delete touches is checked against the stored
// record in its use case (shared/recoveryKeys/service.ts, requireDeviceOwnsKey and deleteRecoveryKey;
// rotation.ts requireSuperseded).

const NOT_FOR_DEVICES =
  "A device may only escrow its own keys, list them with $filter=deviceId eq '<its deviceId>' and delete those its successors superseded.";

/** The 403 for a device attempting what devices may not do. */
export const notForDevices = (device: DeviceIdentity): GraphError => forbidden(`${NOT_FOR_DEVICES} (device ${device.deviceId})`);

/** A device's list must be filtered to its own deviceId; 403 otherwise. */
export function authorizeDeviceListing(caller: Caller, filter: { kind: string; deviceId?: string } | undefined): void {
  if (!caller.device) return;
  if (filter?.kind === 'deviceId' && filter.deviceId === caller.device.deviceId) return;
  throw notForDevices(caller.device);
}

/**
 * Refuses a device's write or delete of a key that is, or would become, another device's: another
 * device's stored key answers as an absent one would (a 404; the audit trail keeps the real reason), so
 * that a device cannot learn which ids other devices hold; writing under another deviceId is a 403.
 */
export function requireOwnDevice(
  caller: Caller,
  keyId: string,
  storedDeviceId: string | undefined,
  writtenDeviceId: string | undefined,
): void {
  const device = caller.device;
  if (!device) return;
  if (storedDeviceId !== undefined && storedDeviceId !== device.deviceId) {
    throw asIfAbsent(
      keyNotFound(keyId),
      forbidden(`Recovery key ${keyId} belongs to another device; a device may write only its own keys.`),
    );
  }
  if (writtenDeviceId !== undefined && writtenDeviceId !== device.deviceId) {
    throw forbidden(`A device may escrow keys only under its own deviceId (${device.deviceId}).`);
  }
}
