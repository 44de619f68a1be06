import { expect } from '@jest/globals';
import { adoptionSource } from '../../shared/keyImport/auditSource';
import { EARLIER_READ_FRESH_MS, importRecoveryKey } from '../../shared/keyImport/importKey';
import { systemSource } from '../../shared/recoveryKeys/deletedKeys';
import type { RecoveryKey } from '../../shared/recoveryKeys/model';
import { upsertRecoveryKey } from '../../shared/recoveryKeys/service';
import { TABLES } from '../../shared/storage/layout';
import { keyBody } from '../support/fixtures';
import { rawTable } from '../support/storage';

// The Entra mirror reads whether a key is escrowed, then reads the key from Graph (seconds, or minutes of
// throttling), then imports it. A device may escrow the same key in between. An earlier read that old
// is not trusted: the import reads again and finds the key, rather than writing a new key's device
// index entry over the device's own first and only then finding it.

const source = systemSource('importEarlierRead.test');
const mirror = adoptionSource('entra', 'mirror');

async function escrowedByDevice(): Promise<RecoveryKey> {
  const { id, deviceId, key } = keyBody();
  const stored = { id: id!, deviceId: deviceId!, key: key!, volumeType: 'operatingSystemVolume' as const };
  await upsertRecoveryKey(stored.id, stored, {}, source);
  return { ...stored, createdDateTime: new Date(Date.now() - 86_400_000).toISOString() };
}

const indexEntry = (key: RecoveryKey) => rawTable(TABLES.deviceIndex).getEntity<Record<string, unknown>>(key.deviceId, key.id);

it('an earlier read older than a moment is read again: the escrowed key is found, its device index entry untouched', async () => {
  const key = await escrowedByDevice();
  const before = await indexEntry(key);
  const outcome = await importRecoveryKey(key, mirror, { stored: undefined, at: Date.now() - EARLIER_READ_FRESH_MS - 5_000 });
  expect(outcome).toBe('unchanged');
  const after = await indexEntry(key);
  expect(after.etag).toBe(before.etag);
});

it('a fresh one is used as it is (the write finds the key there, and reads again)', async () => {
  const key = await escrowedByDevice();
  const before = await indexEntry(key);
  const outcome = await importRecoveryKey(key, mirror, { stored: undefined, at: Date.now() });
  expect(outcome).toBe('unchanged');
  // What the freshness bound spares an older read: the entry was written over before the key was found.
  expect((await indexEntry(key)).etag).not.toBe(before.etag);
});
