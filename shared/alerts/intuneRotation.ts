import { odata } from '@azure/data-tables';
import { auditEvent, type AuditSource } from '../audit/model';
import { writeAuditEntry } from '../audit/store';
import { settings } from '../config';
import { GraphClient } from '../graph/client';
import { serviceCredential } from '../graph/credential';
import { GraphCallFailed } from '../graph/errors';
import type { StoredRecoveryKey } from '../recoveryKeys/model';
import { INTUNE_ROTATION_PARTITION, TABLES } from '../storage/layout';
import { storageCall } from '../storage/storageCall';
import { isStorageError } from '../storage/storageError';
import { tableClient } from '../storage/tables';

// INTUNE_ROTATE_ON_REVEAL: after a key read, Intune is asked to rotate the device's BitLocker keys
// (Graph beta managedDevice rotateBitLockerKeys), for devices without our client. Never in the read's
// time: Azure Functions does not track work left running after a function returns (an idle instance
// is frozen or recycled, and the promise with it), so the read queues a row, and a timer
// (functions/intuneRotations.ts) makes the Graph calls. The row is durable: a failed Graph call is
// tried again at the next run, up to MAX_ATTEMPTS.
//
// Layout: IntuneRotations  PartitionKey = INTUNE_ROTATION_PARTITION, RowKey = device id (one pending
// rotation per device: a second read before the timer runs asks nothing more), with the key read,
// the reader (as the audit names them) and the read's request id, which the outcome's record carries
// as its correlation id.

/** Graph calls for one device tried at most this many runs (a run a minute): then the failure is final and audited. */
export const MAX_ATTEMPTS = 5;
/** Rows one run takes at most; the rest wait for the next run. */
const ROWS_PER_RUN = 50;
const USER_AGENT = 'bitlocker-escrow-intuneRotations/1';

interface RotationEntity {
  keyId: string;
  requestedDateTime: string;
  attempts: number;
  readRequestId: string;
  oid?: string;
  upn?: string;
  appId?: string;
  tid?: string;
  delegated: boolean;
}

const table = () => tableClient(TABLES.intuneRotations);

/**
 * Queues the rotation of `stored`'s device after its read by `source` (with INTUNE_ROTATE_ON_REVEAL),
 * audited. Never fails the read: a storage failure here is logged, and the read's answer goes out.
 */
export async function queueIntuneRotation(stored: StoredRecoveryKey, source: AuditSource): Promise<void> {
  if (!settings().intuneRotateOnReveal) return;
  const { caller } = source;
  const row: RotationEntity = {
    keyId: stored.id,
    requestedDateTime: new Date().toISOString(),
    attempts: 0,
    readRequestId: source.requestId,
    oid: caller.oid,
    upn: caller.upn,
    appId: caller.appId,
    tid: caller.tid,
    delegated: caller.delegated,
  };
  try {
    const rotations = await table();
    await storageCall(() =>
      rotations.upsertEntity({ partitionKey: INTUNE_ROTATION_PARTITION, rowKey: stored.deviceId, ...row }, 'Replace'),
    );
    await writeAuditEntry(
      auditEvent(
        source,
        'intuneRotate',
        'success',
        `Queued: Intune will be asked to rotate the BitLocker keys of device ${stored.deviceId}.`,
        {
          keyId: stored.id,
          deviceId: stored.deviceId,
        },
      ),
    );
  } catch (error) {
    console.warn(
      JSON.stringify({ event: 'intuneRotationNotQueued', keyId: stored.id, requestId: source.requestId, reason: (error as Error).name }),
    );
  }
}

/** A listed row's own fields, without the table's (keys, etag, timestamp). */
const fieldsOf = (row: RotationEntity): RotationEntity => ({
  keyId: row.keyId,
  requestedDateTime: row.requestedDateTime,
  attempts: row.attempts,
  readRequestId: row.readRequestId,
  oid: row.oid,
  upn: row.upn,
  appId: row.appId,
  tid: row.tid,
  delegated: row.delegated,
});

/** The queued read's reader as an audit source: the outcome is recorded as theirs, under the read's request id. */
const sourceOf = (row: RotationEntity): AuditSource => ({
  caller: { oid: row.oid, upn: row.upn, appId: row.appId, tid: row.tid, delegated: row.delegated, permissions: new Set() },
  requestId: row.readRequestId,
  userAgent: USER_AGENT,
});

interface ManagedDevicePage {
  value?: { id?: unknown }[];
}

/** Intune's managed device ids of an Entra device (one device can be enrolled more than once). */
async function managedDeviceIds(graph: GraphClient, deviceId: string): Promise<string[]> {
  const filter = encodeURIComponent(`azureADDeviceId eq '${deviceId}'`);
  const page = (await graph.getJson(
    `/v1.0/deviceManagement/managedDevices?$filter=${filter}&$select=id,azureADDeviceId`,
  )) as ManagedDevicePage;
  return (page.value ?? [])
    .map((device) => device.id)
    .filter((id): id is string => typeof id === 'string' && /^[0-9a-fA-F-]{36}$/.test(id));
}

export interface RotationRun {
  /** Devices Intune was asked to rotate. */
  rotated: number;
  /** Devices Intune does not manage: nothing to ask. */
  notManaged: number;
  /** Devices whose Graph calls failed and will be tried again. */
  retrying: number;
  /** Devices given up after MAX_ATTEMPTS. */
  failed: number;
}

type Outcome = keyof RotationRun;

async function rotateOne(graph: GraphClient, deviceId: string, row: RotationEntity): Promise<{ outcome: Outcome; reason: string }> {
  try {
    const ids = await managedDeviceIds(graph, deviceId);
    if (ids.length === 0)
      return { outcome: 'notManaged', reason: `Device ${deviceId} is not managed by Intune: no rotation was requested.` };
    for (const id of ids) await graph.postAction(`/beta/deviceManagement/managedDevices/${id}/rotateBitLockerKeys`);
    return {
      outcome: 'rotated',
      reason: `Intune accepted the rotation of the BitLocker keys of device ${deviceId} (managed device ${ids.join(', ')}).`,
    };
  } catch (error) {
    if (!(error instanceof GraphCallFailed)) throw error;
    const final = row.attempts + 1 >= MAX_ATTEMPTS;
    return {
      outcome: final ? 'failed' : 'retrying',
      reason: `Intune could not be asked to rotate the keys of device ${deviceId} (try ${row.attempts + 1} of ${MAX_ATTEMPTS}): ${error.message}`,
    };
  }
}

/**
 * One run of the queue: for each queued device (at most ROWS_PER_RUN), find its Intune enrolments and
 * ask each to rotate; each outcome is audited, and the row is removed unless it is to be tried again.
 * A row replaced by a newer read meanwhile is left for the next run (its ETag moved).
 */
export async function processIntuneRotations(graph = new GraphClient(settings().graphBaseUrl, serviceCredential())): Promise<RotationRun> {
  const run: RotationRun = { rotated: 0, notManaged: 0, retrying: 0, failed: 0 };
  const rotations = await table();
  const rows = rotations.listEntities<RotationEntity>({ queryOptions: { filter: odata`PartitionKey eq ${INTUNE_ROTATION_PARTITION}` } });
  let taken = 0;
  for await (const row of rows) {
    if (taken++ >= ROWS_PER_RUN) break;
    const deviceId = row.rowKey!;
    const { outcome, reason } = await rotateOne(graph, deviceId, row);
    run[outcome]++;
    const result = outcome === 'rotated' ? 'success' : 'failure';
    await writeAuditEntry(auditEvent(sourceOf(row), 'intuneRotate', result, reason, { keyId: row.keyId, deviceId }));
    try {
      if (outcome === 'retrying') {
        const retry = { ...fieldsOf(row), partitionKey: INTUNE_ROTATION_PARTITION, rowKey: deviceId, attempts: row.attempts + 1 };
        await storageCall(() => rotations.updateEntity(retry, 'Replace', { etag: row.etag }));
      } else {
        await storageCall(() => rotations.deleteEntity(INTUNE_ROTATION_PARTITION, deviceId, { etag: row.etag }));
      }
    } catch (error) {
      if (!isStorageError(error, 'versionMoved', 'gone')) throw error;
    }
  }
  return run;
}
