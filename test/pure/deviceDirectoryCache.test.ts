import { CachedDeviceDirectory, FOUND_TTL_MS, NOT_FOUND_TTL_MS, StrangerLookupsSpent } from '../../shared/auth/device/cachedDirectory';
import { DirectoryUnavailable, type DirectoryDevice } from '../../shared/auth/device/directory';
import { ConfigError, readSettings } from '../../shared/config';

const FOUND = '11111111-1111-4111-8111-111111111111';
const device: DirectoryDevice = { deviceId: FOUND, accountEnabled: true, alternativeSecurityIds: [] };

/** A directory that counts its lookups and can be made to fail. */
function countingDirectory() {
  const state = { lookups: 0, failing: false };
  return {
    state,
    findDevice: (deviceId: string) => {
      state.lookups++;
      if (state.failing) return Promise.reject(new DirectoryUnavailable('down'));
      return Promise.resolve(deviceId === FOUND ? device : undefined);
    },
  };
}

describe('the device lookup cache', () => {
  it('keeps a found device 5 minutes and a missing one 1 minute, then asks again', async () => {
    let now = 0;
    const inner = countingDirectory();
    const cache = new CachedDeviceDirectory(inner, () => now);
    const missing = '22222222-2222-4222-8222-222222222222';
    expect([await cache.findDevice(FOUND), await cache.findDevice(missing)]).toEqual([device, undefined]);
    now = NOT_FOUND_TTL_MS - 1;
    await cache.findDevice(FOUND);
    await cache.findDevice(missing);
    expect(inner.state.lookups).toBe(2);
    now = NOT_FOUND_TTL_MS;
    await cache.findDevice(missing);
    expect(inner.state.lookups).toBe(3);
    now = FOUND_TTL_MS;
    await cache.findDevice(FOUND);
    expect(inner.state.lookups).toBe(4);
  });

  it('never caches a failure: every lookup while the directory is down fails, and the first after it recovers succeeds', async () => {
    const inner = countingDirectory();
    const cache = new CachedDeviceDirectory(inner);
    inner.state.failing = true;
    await expect(cache.findDevice(FOUND)).rejects.toBeInstanceOf(DirectoryUnavailable);
    await expect(cache.findDevice(FOUND)).rejects.toBeInstanceOf(DirectoryUnavailable);
    inner.state.failing = false;
    expect(await cache.findDevice(FOUND)).toEqual(device);
    expect(inner.state.lookups).toBe(3);
  });
});

describe('a flood of unknown device ids', () => {
  const stranger = (i: number) => `33333333-3333-4333-8333-${String(i).padStart(12, '0')}`;

  it('spends at most the budget of lookups a minute, while a device once found is refreshed and answered throughout', async () => {
    let now = 0;
    const inner = countingDirectory();
    const cache = new CachedDeviceDirectory(inner, () => now, 10);
    expect(await cache.findDevice(FOUND)).toEqual(device);
    const refused: StrangerLookupsSpent[] = [];
    for (let i = 0; i < 300; i++) {
      // The found device's entry expires in the middle of the flood: its refresh is not a stranger's.
      if (i === 150) now = FOUND_TTL_MS + 1;
      await cache.findDevice(stranger(i)).catch((error: StrangerLookupsSpent) => void refused.push(error));
      expect(await cache.findDevice(FOUND)).toEqual(device);
    }
    // The first minute: the device's first lookup (it was a stranger then) and 9 strangers; the minute the
    // clock moved to: the device's refresh, outside the budget, and 10 strangers.
    expect({ lookups: inner.state.lookups, refused: refused.length }).toEqual({ lookups: 1 + 9 + 1 + 10, refused: 281 });
    expect(refused.every((error) => error instanceof StrangerLookupsSpent && error.retryAfterSeconds! >= 1)).toBe(true);
    now += 60_000;
    expect(await cache.findDevice(stranger(999))).toBeUndefined();
  });

  it('ids not found never push a found device out of the cache', async () => {
    const inner = countingDirectory();
    const cache = new CachedDeviceDirectory(inner, () => 0, 1_000_000);
    await cache.findDevice(FOUND);
    for (let i = 0; i < 60_000; i++) await cache.findDevice(stranger(i));
    const before = inner.state.lookups;
    expect(await cache.findDevice(FOUND)).toEqual(device);
    expect(inner.state.lookups).toBe(before);
  });
});

describe('device settings', () => {
  it('DEVICE_AUTH is off by default and takes entra or local', () => {
    expect(readSettings({}).deviceAuth).toBe('off');
    expect(readSettings({ DEVICE_AUTH: 'Entra' }).deviceAuth).toBe('entra');
    expect(readSettings({ DEVICE_AUTH: 'local' }).deviceAuth).toBe('local');
    expect(() => readSettings({ DEVICE_AUTH: 'on' })).toThrow(new ConfigError("DEVICE_AUTH must be 'off', 'entra' or 'local'"));
  });

  it('GRAPH_BASE_URL is Graph by default, https, and plain http only on loopback', () => {
    expect(readSettings({}).graphBaseUrl).toBe('https://graph.microsoft.com');
    expect(readSettings({ GRAPH_BASE_URL: 'https://graph.microsoft.us/' }).graphBaseUrl).toBe('https://graph.microsoft.us');
    expect(readSettings({ GRAPH_BASE_URL: 'http://127.0.0.1:4321' }).graphBaseUrl).toBe('http://127.0.0.1:4321');
    for (const bad of [
      'http://graph.microsoft.com',
      'graph.microsoft.com',
      'https://user:pw@graph.example',
      'https://graph.example/?x=1',
      'ftp://127.0.0.1',
    ]) {
      expect(() => readSettings({ GRAPH_BASE_URL: bad })).toThrow(ConfigError);
    }
  });
});
