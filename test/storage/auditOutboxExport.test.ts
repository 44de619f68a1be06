import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { startAzuriteBlobs, type RunningAzuriteBlobs } from '../../scripts/devhost/azurite';
import { readExportCheckpoint, saveExportCheckpoint } from '../../shared/audit/exportCheckpoint';
import { auditEvent } from '../../shared/audit/model';
import { mergeAuditOutbox, writeReadAudit } from '../../shared/audit/outbox';
import { resetSettings } from '../../shared/config';
import { newId } from '../support/fixtures';

// Key reads audited in the outbox while the tables' primary was down are merged back with their own
// time, which the export to Log Analytics may have passed: the merge moves its checkpoint back before
// them, so that the next export run sends them. (Blobs in an Azurite of this file's own; the tables
// are the run's.)

jest.setTimeout(60_000);

const RULE = `dcr-${randomBytes(16).toString('hex')}`;
const STREAM = 'Custom-EscrowAudit_CL';
let blobs: RunningAzuriteBlobs;
const saved = { ...process.env };

beforeAll(async () => {
  blobs = await startAzuriteBlobs({ inMemory: true });
  Object.assign(process.env, {
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
  await blobs?.stop();
});

it('moves the export checkpoint back before the earliest merged record, and leaves it alone when nothing is merged', async () => {
  const now = new Date();
  await saveExportCheckpoint(RULE, STREAM, undefined, { exportedThrough: now, exportedEvents: 7 });
  const at = new Date(now.getTime() - 3_600_000);
  const read = {
    ...auditEvent({ requestId: newId(), caller: { oid: newId(), delegated: true, permissions: new Set() } }, 'read', 'success', '', {
      keyId: newId(),
      deviceId: newId(),
    }),
    at,
  };
  await writeReadAudit(read, true);
  expect(await mergeAuditOutbox()).toBe(1);
  expect(await readExportCheckpoint(RULE, STREAM)).toMatchObject({ exportedThrough: new Date(at.getTime() - 1), exportedEvents: 7 });

  // Exported again since: a merge with nothing new does not move it.
  const current = await readExportCheckpoint(RULE, STREAM);
  await saveExportCheckpoint(RULE, STREAM, current, { exportedThrough: now, exportedEvents: 8 });
  expect(await mergeAuditOutbox()).toBe(0);
  expect(await readExportCheckpoint(RULE, STREAM)).toMatchObject({ exportedThrough: now, exportedEvents: 8 });
});
