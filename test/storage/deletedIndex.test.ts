import { STALE_AFTER_MS, listPage, markDeleting, markLeaving } from '../../shared/recoveryKeys/deletedIndex';
import { retentionCutoff, systemSource } from '../../shared/recoveryKeys/deletedKeys';
import { tokenOf } from '../../shared/recoveryKeys/pageTokens';
import { deleteRecoveryKey, upsertRecoveryKey } from '../../shared/recoveryKeys/service';
import { getKey } from '../../shared/recoveryKeys/store';
import { DELETED_ROW, TABLES } from '../../shared/storage/layout';
import { keyBody } from '../support/fixtures';
import { rawTable } from '../support/storage';

// A pending row of the deleted keys' index that no step after it will settle (its writer stopped before
// its record's transaction) is its writer's for STALE_AFTER_MS, then the first list mends it from the
// record. The lists run in process with their clock as a parameter (the host's cannot be moved), from
// a position just before the key, so that the page starts with its row.

const source = systemSource('deletedIndex.test');

async function escrowed(): Promise<string> {
  const { id, deviceId, key } = keyBody();
  await upsertRecoveryKey(id, { id, deviceId, key, volumeType: 'operatingSystemVolume' }, {}, source);
  return id!;
}

/** The first page from just before `id` (a position below it and above any other key id), listed as of `now`. */
async function pageAt(id: string, now: Date) {
  const justBefore = tokenOf({ kind: 'after', partitionKey: id.slice(0, -1) });
  return listPage(retentionCutoff(now), 1, justBefore, getKey, now);
}

const rowOf = async (id: string): Promise<Record<string, unknown> | undefined> => {
  try {
    return await rawTable(TABLES.deletedKeys).getEntity(id, DELETED_ROW);
  } catch {
    return undefined;
  }
};

const later = (): Date => new Date(Date.now() + STALE_AFTER_MS + 60_000);

test('a delete that stopped before its commit: its row is not shown, and is removed once stale', async () => {
  const id = await escrowed();
  const record = (await getKey(id))!;
  await markDeleting({ ...record, deletedDateTime: new Date().toISOString() });
  const now = await pageAt(id, new Date());
  expect(now.items.map((k) => k.id)).not.toContain(id);
  expect(await rowOf(id)).toMatchObject({ listed: false });
  expect((await pageAt(id, later())).items.map((k) => k.id)).not.toContain(id);
  expect(await rowOf(id)).toBeUndefined();
});

test('a restore that stopped before its commit: the key is still listed as deleted, and its row is confirmed once stale', async () => {
  const id = await escrowed();
  await deleteRecoveryKey(id, {}, source);
  await markLeaving(id);
  const { deviceId, deletedDateTime } = (await getKey(id))!;
  expect((await pageAt(id, new Date())).items).toEqual([expect.objectContaining({ id, deviceId, deletedDateTime })]);
  expect(await rowOf(id)).toMatchObject({ listed: false });
  expect((await pageAt(id, later())).items).toEqual([expect.objectContaining({ id, deviceId, deletedDateTime })]);
  expect(await rowOf(id)).toMatchObject({ listed: true, deviceId, deletedDateTime });
});
