import { DEFAULT_DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE } from '../../config';
import { type DeviceDirectory, type DirectoryDevice, DirectoryUnavailable } from './directory';

/** A device found is trusted as found for 5 minutes: disabling a device in Entra ID takes effect here within that. */
export const FOUND_TTL_MS = 5 * 60_000;
/** A device not found is looked up again after a minute: a freshly joined device is not kept waiting long. */
export const NOT_FOUND_TTL_MS = 60_000;
/** Beyond this many found devices the oldest entries are dropped (a dropped entry costs one more lookup). */
const MAX_FOUND_ENTRIES = 50_000;
/**
 * Beyond this many ids not found, the oldest are dropped. Kept apart from the found devices, so that
 * strangers' ids can never push a real device out of the cache.
 */
const MAX_NOT_FOUND_ENTRIES = 10_000;
/** Devices once found by this instance: their lookups never wait for the strangers' budget. */
const MAX_KNOWN_DEVICES = 200_000;

const MINUTE_MS = 60_000;

/** This minute's lookups of never-found device ids are spent on this instance: a 503 until the next minute, never a pass. */
export class StrangerLookupsSpent extends DirectoryUnavailable {
  override name = 'StrangerLookupsSpent';

  constructor(retryAfterSeconds: number) {
    super('Too many lookups of unknown devices this minute on this instance.', retryAfterSeconds);
  }
}

interface Entry {
  device: DirectoryDevice | undefined;
  expires: number;
}

/** Drops the oldest entries of an insertion-ordered map or set beyond `max`. */
function bound<K>(entries: Map<K, unknown> | Set<K>, max: number): void {
  for (const key of entries.keys()) {
    if (entries.size <= max) return;
    entries.delete(key);
  }
}

/**
 * Caches another directory's answers briefly, per instance. Failures are never cached and never
 * answered from the cache: an unreachable directory fails closed on every request until it answers.
 * Concurrent lookups of one device share one call.
 *
 * Anyone can send a proof with a self-signed certificate naming a random device id, and each id not
 * cached costs one Graph lookup on the service's identity (whose quota the mirror shares). So lookups
 * of ids this instance has never found spend a budget of `strangerLookupsPerMinute` per clock minute;
 * beyond it such a request is a 503 until the next minute, never a lookup. Devices already found
 * (cached, or known from an earlier lookup) are answered and refreshed outside that budget: a flood
 * of strangers neither delays them nor evicts them.
 */
export class CachedDeviceDirectory implements DeviceDirectory {
  private readonly found = new Map<string, Entry>();
  private readonly notFound = new Map<string, Entry>();
  private readonly known = new Set<string>();
  private readonly pending = new Map<string, Promise<DirectoryDevice | undefined>>();
  private window = { minute: -1, used: 0 };

  constructor(
    private readonly inner: DeviceDirectory,
    private readonly now: () => number = Date.now,
    private readonly strangerLookupsPerMinute = DEFAULT_DEVICE_DIRECTORY_LOOKUPS_PER_MINUTE,
  ) {}

  async findDevice(deviceId: string): Promise<DirectoryDevice | undefined> {
    const entry = this.found.get(deviceId) ?? this.notFound.get(deviceId);
    if (entry && entry.expires > this.now()) return entry.device;
    let lookup = this.pending.get(deviceId);
    if (!lookup) {
      if (!this.known.has(deviceId)) this.spendStrangerLookup();
      lookup = this.inner.findDevice(deviceId).finally(() => this.pending.delete(deviceId));
      this.pending.set(deviceId, lookup);
    }
    const device = await lookup;
    this.remember(deviceId, device);
    return device;
  }

  private spendStrangerLookup(): void {
    const now = this.now();
    const minute = Math.floor(now / MINUTE_MS);
    if (minute !== this.window.minute) this.window = { minute, used: 0 };
    if (this.window.used >= this.strangerLookupsPerMinute) {
      const retryAfterSeconds = Math.max(1, Math.ceil(((minute + 1) * MINUTE_MS - now) / 1000));
      throw new StrangerLookupsSpent(retryAfterSeconds);
    }
    this.window.used++;
  }

  private remember(deviceId: string, device: DirectoryDevice | undefined): void {
    this.found.delete(deviceId);
    this.notFound.delete(deviceId);
    if (device) {
      this.found.set(deviceId, { device, expires: this.now() + FOUND_TTL_MS });
      this.known.delete(deviceId);
      this.known.add(deviceId);
      bound(this.found, MAX_FOUND_ENTRIES);
      bound(this.known, MAX_KNOWN_DEVICES);
    } else {
      this.notFound.set(deviceId, { device, expires: this.now() + NOT_FOUND_TTL_MS });
      bound(this.notFound, MAX_NOT_FOUND_ENTRIES);
    }
  }
}
