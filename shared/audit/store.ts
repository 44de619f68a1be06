import { odata, type TableEntity, type TableEntityResult } from '@azure/data-tables';
import { GraphError, serviceUnavailable } from '../http/graphError';
import { mapStorageError, statusOf, tableClient } from '../storage/tables';
import { ACTIVITIES, type Activity, type AuditEvent } from './model';
import { withoutSecrets } from '../redact';

// Layout (README "Audit trail"):
//   AuditLog      PartitionKey = inverted UTC day, RowKey = inverted milliseconds + '-' + event id
//   RecoveryKeys  PartitionKey = key id, RowKey = 'audit-' + the same suffix: the twin of a write's record
// Inverted times make ascending order newest first, and a time range a PartitionKey and RowKey range.
// A successful write stores its twin in the key's partition in the same transaction as the record,
// so the write and its audit commit together; the AuditLog entry, written just before, is the time
// index and is shown only if its twin exists (the record-and-index pattern of the key store). Events
// with no record write (key reads, refusals) go to AuditLog alone.

export const AUDIT_TABLE = 'AuditLog';

const MAX_DAY = 99_999_999;
const MAX_MS = 9_999_999_999_999;

const dayOf = (time: Date): number => Number(time.toISOString().slice(0, 10).replace(/-/g, ''));
export const partitionFor = (time: Date): string => String(MAX_DAY - dayOf(time)).padStart(8, '0');
export const rowPrefixFor = (ms: number): string => String(MAX_MS - ms).padStart(13, '0');
const suffixOf = (event: AuditEvent): string => `${rowPrefixFor(event.at.getTime())}-${event.id}`;

export const twinRowKey = (event: AuditEvent): string => `audit-${suffixOf(event)}`;

interface AuditEntity {
  eventId: string;
  activityDisplayName: string;
  activityDateTime: string;
  result: string;
  resultReason: string;
  targetId?: string;
  deviceId?: string;
  correlationId: string;
  oid?: string;
  appId?: string;
  upn?: string;
  tid?: string;
  /** A device caller (EntraDevice): its deviceId and certificate thumbprint. */
  callerDeviceId?: string;
  callerThumbprint?: string;
  userAgent?: string;
  clientName?: string;
  clientVersion?: string;
  importSource?: string;
  /** Shown only if its twin exists in the key's partition. */
  hasTwin: boolean;
}

const ACTIVITY_BY_NAME = new Map<string, Activity>(
  Object.entries(ACTIVITIES).map(([activity, { displayName }]) => [displayName, activity as Activity]),
);

// Header values and error messages carry the client's text: masked (a key or token pasted in the wrong
// place), then bounded so that an audit entity stays far below the 1 MiB limit.
const clip = (value: string | undefined): string | undefined => withoutSecrets(value)?.slice(0, 512);

function toEntity(event: AuditEvent, hasTwin: boolean): TableEntity<AuditEntity> {
  const { caller } = event.source;
  return {
    partitionKey: partitionFor(event.at),
    rowKey: suffixOf(event),
    eventId: event.id,
    activityDisplayName: ACTIVITIES[event.activity].displayName,
    activityDateTime: event.at.toISOString(),
    result: event.result,
    resultReason: clip(event.resultReason) ?? '',
    targetId: event.keyId,
    deviceId: event.deviceId,
    correlationId: event.source.requestId,
    oid: caller.oid,
    appId: caller.appId,
    upn: caller.upn,
    tid: caller.tid,
    callerDeviceId: caller.device?.deviceId,
    callerThumbprint: caller.device?.thumbprint,
    userAgent: clip(event.source.userAgent),
    clientName: clip(event.source.clientName),
    clientVersion: clip(event.source.clientVersion),
    importSource: event.source.importedFrom,
    hasTwin,
  };
}

function fromEntity(entity: TableEntityResult<AuditEntity>): AuditEvent {
  return {
    id: entity.eventId,
    activity: ACTIVITY_BY_NAME.get(entity.activityDisplayName) ?? 'read',
    at: new Date(entity.activityDateTime),
    result: entity.result === 'success' ? 'success' : 'failure',
    resultReason: entity.resultReason,
    keyId: entity.targetId,
    deviceId: entity.deviceId,
    source: {
      requestId: entity.correlationId,
      userAgent: entity.userAgent,
      clientName: entity.clientName,
      clientVersion: entity.clientVersion,
      importedFrom: entity.importSource === 'entra' || entity.importSource === 'file' ? entity.importSource : undefined,
      caller: {
        oid: entity.oid,
        appId: entity.appId,
        upn: entity.upn,
        tid: entity.tid,
        permissions: new Set(),
        device: entity.callerDeviceId ? { deviceId: entity.callerDeviceId, thumbprint: entity.callerThumbprint ?? '' } : undefined,
      },
    },
  };
}

/** The audit trail's 503, passing on when storage asked us to come back (if it said). */
function auditUnavailable(cause: unknown): GraphError {
  const mapped = mapStorageError(cause);
  const retryAfter = mapped instanceof GraphError ? Number(mapped.headers['Retry-After']) : NaN;
  return serviceUnavailable(
    'The audit trail could not be written, so the operation was not carried out; try again shortly.',
    Number.isInteger(retryAfter) && retryAfter > 0 ? retryAfter : 10,
  );
}

/**
 * Writes the AuditLog entry of an event. `hasTwin` marks the entry of a write whose twin goes into the
 * key's partition with the record; such an entry is hidden until that transaction commits.
 * Any failure is a 503: an operation whose audit cannot be written does not happen.
 */
export async function writeAuditEntry(event: AuditEvent, hasTwin = false): Promise<void> {
  try {
    await (await tableClient(AUDIT_TABLE)).upsertEntity(toEntity(event, hasTwin), 'Replace');
  } catch (error) {
    throw auditUnavailable(error);
  }
}

export interface AuditQuery {
  from?: Date;
  to?: Date;
  activity?: string;
  targetId?: string;
}

export interface AuditPage {
  items: AuditEvent[];
  continuation?: string;
}

function filterFor(query: AuditQuery): string {
  const clauses: string[] = [];
  // Newest first: the later bound gives the smaller inverted keys.
  if (query.to) {
    clauses.push(odata`PartitionKey ge ${partitionFor(query.to)}`, odata`RowKey ge ${rowPrefixFor(query.to.getTime())}`);
  }
  if (query.from) {
    clauses.push(
      odata`PartitionKey le ${partitionFor(query.from)}`,
      odata`RowKey lt ${rowPrefixFor(query.from.getTime() - 1)}`,
    );
  }
  if (query.activity) clauses.push(odata`activityDisplayName eq ${query.activity}`);
  if (query.targetId) clauses.push(odata`targetId eq ${query.targetId}`);
  return clauses.join(' and ');
}

async function twinExists(event: AuditEvent): Promise<boolean> {
  try {
    await (await tableClient('RecoveryKeys')).getEntity(event.keyId!, twinRowKey(event), { queryOptions: { select: ['RowKey'] } });
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw error;
  }
}

/** One page of audit events, newest first. */
export async function listAuditEvents(query: AuditQuery, pageSize: number, continuation?: string): Promise<AuditPage> {
  const filter = filterFor(query);
  const entities = (await tableClient(AUDIT_TABLE)).listEntities<AuditEntity>({ queryOptions: filter ? { filter } : {} });
  const page = (await entities.byPage({ maxPageSize: pageSize, continuationToken: continuation }).next()).value;
  const rows: TableEntityResult<AuditEntity>[] = page ?? [];
  const shown = await Promise.all(
    rows.map(async (row) => {
      const event = fromEntity(row);
      return row.hasTwin && !(await twinExists(event)) ? undefined : event;
    }),
  );
  return { items: shown.filter((e): e is AuditEvent => e !== undefined), continuation: page?.continuationToken };
}
