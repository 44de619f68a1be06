import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceDirectory, DirectoryDevice } from './directory';

// DEVICE_AUTH=local: devices registered with `npm run device -- register` are files
// `<LOCAL_STATE_DIR>/devices/<deviceId>.json` holding the device as Graph would describe it.

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const devicesDir = (stateDir: string): string => join(stateDir, 'devices');

/** Records a device in the local directory (overwriting an earlier record of it). */
export async function registerLocalDevice(stateDir: string, device: DirectoryDevice): Promise<void> {
  if (!GUID.test(device.deviceId)) throw new Error('deviceId must be a lower-case GUID');
  await mkdir(devicesDir(stateDir), { recursive: true });
  await writeFile(join(devicesDir(stateDir), `${device.deviceId}.json`), JSON.stringify(device, null, 2));
}

/** The local device directory under `stateDir`: read on every lookup, so a registration is seen at once. */
export class LocalDeviceDirectory implements DeviceDirectory {
  constructor(private readonly stateDir: string) {}

  async findDevice(deviceId: string): Promise<DirectoryDevice | undefined> {
    // The id is a GUID by the time it gets here (the certificate check); checked again because it names a file.
    if (!GUID.test(deviceId)) return undefined;
    try {
      return JSON.parse(await readFile(join(devicesDir(this.stateDir), `${deviceId}.json`), 'utf8')) as DirectoryDevice;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}
