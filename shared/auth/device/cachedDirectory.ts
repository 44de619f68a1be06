import type { DeviceDirectory, DirectoryDevice } from './directory';

/** A device found is trusted as found for 5 minutes: disabling a device in Entra ID takes effect here within that. */
export const FOUND_TTL_MS = 5 * 60_000;
/** A device not found is looked up again after a minute: a freshly joined device is not kept waiting long. */
export const NOT_FOUND_TTL_MS = 60_000;
/** Beyond this many devices the oldest entries are dropped (a dropped entry costs one more lookup). */
const MAX_ENTRIES = 50_000;

interface Entry {
  device: DirectoryDevice | undefined;
  expires: number;
}

/**
 * Caches another directory's answers briefly, per instance. Failures are never cached and never
 * answered from the cache: an unreachable directory fails closed on every request until it answers.
 * Concurrent lookups of one device share one call.
 */
export class CachedDeviceDirectory implements DeviceDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<DirectoryDevice | undefined>>();

  constructor(
    private readonly inner: DeviceDirectory,
    private readonly now: () => number = Date.now,
  ) {}

  async findDevice(deviceId: string): Promise<DirectoryDevice | undefined> {
    const entry = this.entries.get(deviceId);
    if (entry && entry.expires > this.now()) return entry.device;
    let lookup = this.pending.get(deviceId);
    if (!lookup) {
      lookup = this.inner.findDevice(deviceId).finally(() => this.pending.delete(deviceId));
      this.pending.set(deviceId, lookup);
    }
    const device = await lookup;
    this.entries.delete(deviceId);
    this.entries.set(deviceId, { device, expires: this.now() + (device ? FOUND_TTL_MS : NOT_FOUND_TTL_MS) });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    return device;
  }
}
