import { forbidden } from '../../errors/graphError';
import type { Caller } from '../caller';
import type { Operation } from '../permissions';
import type { DeviceIdentity } from './verifier';

// What a device principal may do (README "Escrow from devices"): escrow keys of its own deviceId, list
// its own keys' metadata, and delete its own key once a successor has replaced it. Never read a
// password, delete any other key, read another device's keys or list them. Which key a write or a
// delete touches is checked against the stored record in its use case (shared/recoveryKeys/service.ts,
// requireDeviceOwnsKey and deleteRecoveryKey; rotation.ts requireSuperseded).

const DEVICE_OPERATIONS: ReadonlySet<Operation> = new Set(['writeKey', 'writeDeviceStatus', 'deleteKey']);

const NOT_FOR_DEVICES =
  "A device may only escrow its own keys, list them with $filter=deviceId eq '<its deviceId>' and delete those its successors superseded.";

/** 403 unless a device may perform the operation at all. */
export function authorizeDevice(device: DeviceIdentity, operation: Operation): void {
  if (!DEVICE_OPERATIONS.has(operation)) throw forbidden(`${NOT_FOR_DEVICES} (device ${device.deviceId})`);
}

/** A device's list must be filtered to its own deviceId; 403 otherwise. */
export function authorizeDeviceListing(caller: Caller, filter: { kind: string; deviceId?: string } | undefined): void {
  if (!caller.device) return;
  if (filter?.kind === 'deviceId' && filter.deviceId === caller.device.deviceId) return;
  throw forbidden(`${NOT_FOR_DEVICES} (device ${caller.device.deviceId})`);
}

/** 403 when a device writes a key that is, or would become, another device's. */
export function requireOwnDevice(
  caller: Caller,
  keyId: string,
  storedDeviceId: string | undefined,
  writtenDeviceId: string | undefined,
): void {
  const device = caller.device;
  if (!device) return;
  if (storedDeviceId !== undefined && storedDeviceId !== device.deviceId) {
    throw forbidden(`Recovery key ${keyId} belongs to another device; a device may write only its own keys.`);
  }
  if (writtenDeviceId !== undefined && writtenDeviceId !== device.deviceId) {
    throw forbidden(`A device may escrow keys only under its own deviceId (${device.deviceId}).`);
  }
}
