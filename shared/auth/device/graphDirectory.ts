import { GraphCallFailed } from '../../graph/errors';
import type { GraphClient } from '../../graph/client';
import type { AlternativeSecurityId } from './alternativeSecurityId';
import { DirectoryUnavailable, type DeviceDirectory, type DirectoryDevice } from './directory';

/** The properties the proof needs, and nothing more (Graph returns less when asked for less). */
const SELECT = 'id,deviceId,accountEnabled,alternativeSecurityIds';

/** Graph's answer to a device query, as far as it is read here. */
interface DeviceCollection {
  value?: unknown[];
}

function toDirectoryDevice(value: unknown): DirectoryDevice | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const device = value as Record<string, unknown>;
  if (typeof device.deviceId !== 'string') return undefined;
  const entries = Array.isArray(device.alternativeSecurityIds) ? (device.alternativeSecurityIds as AlternativeSecurityId[]) : [];
  return {
    id: typeof device.id === 'string' ? device.id : undefined,
    deviceId: device.deviceId.toLowerCase(),
    accountEnabled: device.accountEnabled === true,
    alternativeSecurityIds: entries.filter((entry) => typeof entry === 'object' && entry !== null),
  };
}

/**
 * Devices in Microsoft Graph: `GET /v1.0/devices?$filter=deviceId eq '{id}'&$select=...`
 * (https://learn.microsoft.com/graph/api/device-list), with the application permission Device.Read.All.
 * Any failure to get an answer is DirectoryUnavailable (the proof fails closed).
 */
export class GraphDeviceDirectory implements DeviceDirectory {
  constructor(private readonly graph: GraphClient) {}

  async findDevice(deviceId: string): Promise<DirectoryDevice | undefined> {
    const filter = encodeURIComponent(`deviceId eq '${deviceId}'`);
    let body: unknown;
    try {
      body = await this.graph.getJson(`/v1.0/devices?$filter=${filter}&$select=${SELECT}`);
    } catch (error) {
      if (error instanceof GraphCallFailed) throw new DirectoryUnavailable(error.message, error.retryAfterSeconds);
      throw error;
    }
    const value = (body as DeviceCollection | null)?.value;
    if (!Array.isArray(value)) throw new DirectoryUnavailable('Microsoft Graph answered without a device collection.');
    return value.map(toDirectoryDevice).find((device) => device?.deviceId === deviceId);
  }
}
