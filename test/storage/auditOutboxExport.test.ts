import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startAzuriteBlobs, startAzuriteTables, type RunningAzurite, type RunningAzuriteBlobs } from '../../scripts/devhost/azurite';
import { readExportCheckpoint, saveExportCheckpoint } from '../../shared/audit/exportCheckpoint';
import { auditEvent } from '../../shared/audit/model';
import { mergeAuditOutbox, writeReadAudit } from '../../shared/audit/outbox';
import { resetSettings } from '../../shared/config';
import { isStorageError } from '../../shared/storage/storageError';
import { newId } from '../support/fixtures';

// Key reads audited in the outbox while the tables' primary was down are merged back with their own
// time, which the export to Log Analytics may have passed: the merge moves its checkpoint back before
// them, so that the next export run sends them. (Blobs and tables in Azurites of this file's own: a
// merge touches every checkpoint row, other files' too.)

jest.setTimeout(60_000);

const RULE = `dcr-${randomBytes(16).toString('hex')}`;
const STREAM = 'Custom-EscrowAudit_CL';
let blobs: RunningAzuriteBlobs;
let tables: RunningAzurite;
const saved = { ...process.env };

beforeAll(async () => {
  [blobs, tables] = await Promise.all([startAzuriteBlobs({ inMemory: true }), startAzuriteTables({ inMemory: true })]);
  Object.assign(process.env, {
    STORAGE_CONNECTION_STRING: tables.connectionString,
    BACKUP_CONNECTION_STRING: blobs.connectionString,
    BACKUP_CONTAINER: 'outbox-export',
    AUDIT_LOGS_INGESTION_ENDPOINT: 'https://127.0.0.1:9',
    AUDIT_LOGS_RULE_ID: RULE,
  });
  resetSettings();
});

afterAll(async () => {
  process.env = saved;
  resetSettings();
  await Promise.all([blobs?.stop(), tables?.stop()]);
});

/** A key read audited in the outbox, stamped `at`. */
async function outboxRead(at: Date): Promise<void> {
  const caller = { oid: newId(), delegated: true, permissions: new Set<string>() };
  await writeReadAudit(
    { ...auditEvent({ requestId: newId(), caller }, 'read', 'success', '', { keyId: newId(), deviceId: newId() }), at },
    true,
  );
}

it('moves the export checkpoint back before the earliest merged record, and leaves it alone when nothing is merged', async () => {
  const now = new Date();
  await saveExportCheckpoint(RULE, STREAM, undefined, { exportedThrough: now, exportedEvents: 7 });
  const at = new Date(now.getTime() - 3_600_000);
  await outboxRead(at);
  expect(await mergeAuditOutbox()).toBe(1);
  expect(await readExportCheckpoint(RULE, STREAM)).toMatchObject({ exportedThrough: new Date(at.getTime() - 1), exportedEvents: 7 });

  // Exported again since: a merge with nothing new does not move it.
  const current = await readExportCheckpoint(RULE, STREAM);
  await saveExportCheckpoint(RULE, STREAM, current, { exportedThrough: now, exportedEvents: 8 });
  expect(await mergeAuditOutbox()).toBe(0);
  expect(await readExportCheckpoint(RULE, STREAM)).toMatchObject({ exportedThrough: now, exportedEvents: 8 });
});

it("moves back every rule's checkpoint, the export settings unset (an operator's npm run backup)", async () => {
  const other = `dcr-${randomBytes(16).toString('hex')}`;
  const now = new Date();
  await saveExportCheckpoint(other, STREAM, undefined, { exportedThrough: now, exportedEvents: 3 });
  delete process.env.AUDIT_LOGS_INGESTION_ENDPOINT;
  delete process.env.AUDIT_LOGS_RULE_ID;
  resetSettings();
  try {
    const at = new Date(now.getTime() - 60_000);
    await outboxRead(at);
    expect(await mergeAuditOutbox()).toBe(1);
    expect(await readExportCheckpoint(other, STREAM)).toMatchObject({ exportedThrough: new Date(at.getTime() - 1), exportedEvents: 3 });
  } finally {
    Object.assign(process.env, { AUDIT_LOGS_INGESTION_ENDPOINT: 'https://127.0.0.1:9', AUDIT_LOGS_RULE_ID: RULE });
    resetSettings();
  }
});

it('stops a run that read its window before the merge from saving past the merged record', async () => {
  // The run's view: the checkpoint before the record, read (with its ETag) before the record was stored.
  const now = new Date();
  const current = await readExportCheckpoint(RULE, STREAM);
  const before = await saveExportCheckpoint(RULE, STREAM, current, {
    exportedThrough: new Date(now.getTime() - 120_000),
    exportedEvents: 9,
  });
  await outboxRead(new Date(now.getTime() - 60_000));
  expect(await mergeAuditOutbox()).toBe(1);
  // Not passed, so not moved, but written again: the run's save past the record fails.
  expect(await readExportCheckpoint(RULE, STREAM)).toMatchObject({ exportedThrough: before.exportedThrough, exportedEvents: 9 });
  const late = await saveExportCheckpoint(RULE, STREAM, before, { exportedThrough: now, exportedEvents: 10 }).catch(
    (error: unknown) => error,
  );
  expect(isStorageError(late, 'versionMoved')).toBe(true);
});
