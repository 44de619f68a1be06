import { auditEvent } from '../audit/model';
import type { AuditSource } from '../audit/model';
import { conflict, forbidden, notFound } from '../errors/graphError';
import { getKey } from '../recoveryKeys/store';
import { forEachLimit } from '../runs/forEachLimit';
import { countingRuns, knowsDevice, readInventoryDevice } from '../inventory/store';
import { displayNameOf, ownerOf } from '../inventory/model';
import type { DeviceStatus, DeviceStatusInput } from './model';
import { reportedKeyIds } from './model';
import { readStatus, writeStatus } from './store';

// The device-status use case: who may write whose status, which key ids it may name, and its audit.

/** Point reads of reported keys in flight at once for one status (a device has a handful; 200 at most). */
const KEY_READS_IN_FLIGHT = 8;

/** 403 unless the caller is the device itself or a management tool (the permission was checked before). */
function requireOwnStatus(source: AuditSource, deviceId: string): void {
  const device = source.caller.device;
  if (device && device.deviceId !== deviceId) {
    throw forbidden(`A device may write only its own status (device ${device.deviceId}), not device ${deviceId}'s.`);
  }
}

/** 409 naming the reported key ids that are escrowed for another device (a deleted key names nobody). */
async function refuseOtherDevicesKeys(deviceId: string, input: DeviceStatusInput): Promise<void> {
  const foreign: string[] = [];
  await forEachLimit(reportedKeyIds(input), KEY_READS_IN_FLIGHT, async (id) => {
    const key = await getKey(id);
    if (key && key.deletedDateTime === undefined && key.deviceId !== deviceId) foreign.push(id);
  });
  if (foreign.length > 0) {
    const shown = foreign.sort().slice(0, 5).join(', ');
    throw conflict(
      `The status names recovery key(s) escrowed for another device: ${shown}${foreign.length > 5 ? ` and ${foreign.length - 5} more` : ''}. Nothing was stored.`,
    );
  }
}

/**
 * Stores a device's status in place of its last. A device proves who it is; a management tool's status
 * must be about a device the inventory knows (when an inventory has been read). Audited; a refusal is
 * recorded by the operation's scope.
 */
export async function putDeviceStatus(deviceId: string, input: DeviceStatusInput, source: AuditSource): Promise<DeviceStatus> {
  requireOwnStatus(source, deviceId);
  if (!source.caller.device && (await knowsDevice(deviceId)) === false) {
    throw notFound(
      `Device ${deviceId} is not in the device inventory (Entra ID's devices, read by npm run inventory); no status was stored.`,
    );
  }
  await refuseOtherDevicesKeys(deviceId, input);
  const status: DeviceStatus = { deviceId, ...input, lastReportedDateTime: new Date().toISOString() };
  const ids = reportedKeyIds(input);
  const reason = `${input.volumes.length} volume(s), ${ids.length} recovery password id(s)`;
  await writeStatus(status, auditEvent(source, 'status', 'success', reason, { deviceId }));
  return status;
}

/** A device as the service knows it: its last status, if any, and its name and owner from the inventory. */
export interface DeviceDescription extends Partial<DeviceStatus> {
  deviceId: string;
  displayName?: string;
  userPrincipalName?: string;
}

/** A device the service has no status for: no lastReportedDateTime, no volumes. */
export const unreportedDevice = (deviceId: string): DeviceDescription => ({ deviceId, volumes: [] });

/**
 * The device's last status, with its display name and owner when the device inventory has them (the
 * helpdesk console names devices with these). A device that never reported has no lastReportedDateTime
 * and no volumes: an answer, not a 404, since the console asks about every device it lists, and a
 * device id is no secret (any ReadBasic.All reader lists them).
 */
export async function getDeviceStatus(deviceId: string): Promise<DeviceDescription> {
  const [status, device] = await Promise.all([readStatus(deviceId), countingRuns().then((runs) => readInventoryDevice(deviceId, runs))]);
  return {
    ...(status ?? unreportedDevice(deviceId)),
    ...(device && { displayName: displayNameOf(device), userPrincipalName: ownerOf(device) }),
  };
}
