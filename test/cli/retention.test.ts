import { expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { DEFAULT_DELETED_KEY_RETENTION_DAYS, resetSettings } from '../../shared/config';
import { keyRowsOf, rawTable } from '../support/storage';
import { DELETED_ROW, TABLES } from '../../shared/storage/layout';
import { keyBody } from '../support/fixtures';

// Retention of deleted keys and the purge job (timer and `npm run purge-expired`), on an Azurite of
// this file's own: a purge run with a clock set months ahead purges every deleted key of its storage,
// which must not be the run's shared one, where other files check keys they just deleted.
// The use cases run in-process with their clock parameter; the script runs as `npm run` runs it.

const PURGE_SCRIPT = join(__dirname, '../../dist/scripts/cli/purgeExpired.js');
const DAY_MS = 24 * 60 * 60 * 1000;
const run = promisify(execFile);

let azurite: RunningAzurite;
let deleted: typeof import('../../shared/recoveryKeys/deletedKeys');
let service: typeof import('../../shared/recoveryKeys/service');

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  // Before any module reads the settings: this file's modules talk to its own Azurite.
  process.env.STORAGE_CONNECTION_STRING = azurite.connectionString;
  resetSettings();
  deleted = await import('../../shared/recoveryKeys/deletedKeys');
  service = await import('../../shared/recoveryKeys/service');
});

afterAll(async () => {
  await azurite?.stop();
});

/** Escrows a key and deletes it through the use cases; the key's body and its deletedDateTime as a time. */
async function escrowAndDelete() {
  const source = deleted.systemSource('retention.test');
  const body = keyBody();
  const { id, deviceId, key } = body;
  await service.upsertRecoveryKey(id, { id, deviceId, key, volumeType: 'operatingSystemVolume' }, {}, source);
  await service.deleteRecoveryKey(id!, {}, source);
  const { deletedDateTime } = await deleted.getDeletedKey(id!);
  return { body, deletedAt: new Date(deletedDateTime).getTime() };
}

const retentionEnd = (deletedAt: number, days = DEFAULT_DELETED_KEY_RETENTION_DAYS): number => deletedAt + days * DAY_MS;

// keyRowsOf reads the table named by STORAGE_CONNECTION_STRING, which is this file's Azurite by then.
describe('retention of deleted keys', () => {
  it('restorable with its password until the retention ends; then hidden at once, purged by the job, and audited', async () => {
    const source = deleted.systemSource('retention.test');
    const { body, deletedAt } = await escrowAndDelete();
    const justBefore = new Date(retentionEnd(deletedAt) - 1000);
    const justAfter = new Date(retentionEnd(deletedAt) + 1000);

    expect((await deleted.getDeletedKey(body.id!, justBefore)).id).toBe(body.id);
    await expect(deleted.getDeletedKey(body.id!, justAfter)).rejects.toMatchObject({ status: 404 });
    await expect(deleted.restoreDeletedKey(body.id!, {}, source, justAfter)).rejects.toMatchObject({ status: 404 });
    expect((await deleted.listDeletedKeys(100, undefined, justAfter)).items.map((k) => k.id)).not.toContain(body.id);

    // A run before the end leaves it; a run after purges it.
    expect(await deleted.purgeExpiredKeys(justBefore, source)).toMatchObject({ expired: 0, purged: 0 });
    expect((await keyRowsOf(body.id!)).records).toHaveLength(1);
    expect(await deleted.purgeExpiredKeys(justAfter, source)).toEqual({ expired: 1, purged: 1, skipped: 0, failed: [], indexed: 0 });
    expect(await keyRowsOf(body.id!)).toEqual({ records: [], index: [] });
    await expect(deleted.getDeletedKey(body.id!)).rejects.toMatchObject({ status: 404 });

    const { listAuditEvents } = await import('../../shared/audit/store');
    const events = (await listAuditEvents({ targetId: body.id! }, 100)).items;
    const purge = events.find((e) => e.activity === 'purge');
    expect(purge).toMatchObject({ result: 'success', source: { userAgent: 'retention.test' } });
    expect(purge!.resultReason).toMatch(/^Retention ended: deleted .*, kept 90 days\.$/);
  });

  it('restored before the end, the key is live with the same password, and the job leaves it alone', async () => {
    const source = deleted.systemSource('retention.test');
    const { body, deletedAt } = await escrowAndDelete();
    const restored = await deleted.restoreDeletedKey(body.id!, {}, source, new Date(retentionEnd(deletedAt) - 1000));
    expect(restored.deletedDateTime).toBeUndefined();
    await deleted.purgeExpiredKeys(new Date(retentionEnd(deletedAt) + DAY_MS), source);
    const read = await service.readRecoveryPassword(body.id!, source);
    expect(read.key).toBe(body.key);
  });

  it('a key deleted before the deleted keys had an index of their own is listed once the purge job has run', async () => {
    const source = deleted.systemSource('retention.test');
    const { body } = await escrowAndDelete();
    // As an earlier version left it: the record deleted, no row in the index.
    await rawTable(TABLES.deletedKeys).deleteEntity(body.id!, DELETED_ROW);
    const listed = async (): Promise<string[]> => (await deleted.listDeletedKeys(1000)).items.map((k) => k.id);
    expect(await listed()).not.toContain(body.id);
    expect(await deleted.purgeExpiredKeys(new Date(), source)).toMatchObject({ expired: 0, indexed: 1 });
    expect(await listed()).toContain(body.id);
    // The row the job added was checked against the record by that list, and confirmed; a second run adds nothing.
    expect(await rawTable(TABLES.deletedKeys).getEntity(body.id!, DELETED_ROW)).toMatchObject({ listed: true, deviceId: body.deviceId });
    expect(await deleted.purgeExpiredKeys(new Date(), source)).toMatchObject({ indexed: 0 });
    expect((await deleted.getDeletedKey(body.id!)).id).toBe(body.id);
    // Restored, so that the purges of the next test find only their own key.
    await deleted.restoreDeletedKey(body.id!, {}, source);
  });

  it('npm run purge-expired -- --now purges what is past its retention at that time, with DELETED_KEY_RETENTION_DAYS from the settings', async () => {
    const { body, deletedAt } = await escrowAndDelete();
    const env = { ...process.env, STORAGE_CONNECTION_STRING: azurite.connectionString, DELETED_KEY_RETENTION_DAYS: '7' };
    const early = await run(process.execPath, [PURGE_SCRIPT, '--now', new Date(retentionEnd(deletedAt, 7) - 1000).toISOString()], { env });
    expect(early.stdout).toMatch(/^purge-expired: done: 0 past retention, 0 purged/);
    expect((await keyRowsOf(body.id!)).records).toHaveLength(1);

    const late = await run(process.execPath, [PURGE_SCRIPT, '--now', new Date(retentionEnd(deletedAt, 7) + 1000).toISOString()], { env });
    expect(late.stdout).toMatch(
      /^purge-expired: done: 1 past retention, 1 purged, 0 changed meanwhile, 0 failed; 0 deleted keys added to their index$/m,
    );
    expect(await keyRowsOf(body.id!)).toEqual({ records: [], index: [] });
    expect(`${late.stdout}${late.stderr}`).not.toContain(body.key);

    await expect(run(process.execPath, [PURGE_SCRIPT, '--now', 'yesterday'], { env })).rejects.toMatchObject({ code: 2 });
    await expect(run(process.execPath, [PURGE_SCRIPT], { env: { ...env, DELETED_KEY_RETENTION_DAYS: '0' } })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('DELETED_KEY_RETENTION_DAYS must be a whole number from 1 to 3650'),
    });
  }, 120_000);
});
