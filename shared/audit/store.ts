import { odata, type TableEntity, type TableEntityResult } from '@azure/data-tables';
import { GraphError, serviceUnavailable } from '../errors/graphError';
import { firstPage } from '../storage/firstPage';
import { LostRace, retryLostRaces } from '../storage/retryLostRaces';
import { isStorageError, StorageError, toStorageError, UNREACHABLE_RETRY_AFTER_S } from '../storage/storageError';
import { tableClient } from '../storage/tables';
import { boundedEvent } from './bounded';
import { ACTIVITIES, type Activity, type AuditEvent, type ModifiedProperty, type RefusalCount, sumRefusals } from './model';
import { TABLES } from '../storage/layout';

// Layout (README "Audit trail"):
//   AuditLog      PartitionKey = inverted UTC day, RowKey = inverted milliseconds + '-' + event id
//   RecoveryKeys  PartitionKey = key id, RowKey = 'audit-' + the same suffix: the twin of a write's record
// Inverted times make ascending order newest first, and a time range a PartitionKey and RowKey range.
// A successful write stores its twin in the key's partition in the same transaction as the record,
// so the write and its audit commit together; the AuditLog entry, written just before, is the time
// index and is shown only if its twin exists (the record-and-index pattern of the key store). Events
// with no record write (key reads, refusals) go to AuditLog alone.

export const AUDIT_TABLE = TABLES.auditLog;

const MAX_DAY = 99_999_999;
/**
 * The latest instant the 13-digit inverted RowKey can hold (2286-11-20T17:46:39.999Z). Rows are written
 * with the current time, so none is before 1970 (ms 0) or after this; a query bound outside that span
 * is no bound at all (or, facing the other way, excludes everything), never an out-of-range key.
 */
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
  /** The token had `scp`: a user signed in through an app. Absent on rows written before it was kept. */
  delegated?: boolean;
  /** A device caller (EntraDevice): its deviceId and certificate thumbprint. */
  callerDeviceId?: string;
  callerThumbprint?: string;
  userAgent?: string;
  clientName?: string;
  clientVersion?: string;
  /** JSON of the write's ModifiedProperty list; absent when it changed nothing. Built by the service from stored values, never client text. */
  modifiedProperties?: string;
  revealReason?: string;
  revealTicket?: string;
  importSource?: string;
  /** Shown only if its twin exists in the key's partition. */
  hasTwin: boolean;
  // A refusal summary (activity 'refusals') only:
  refusedCount?: number;
  /** JSON of RefusalCount.tally. */
  refusalTally?: string;
  firstRefusedDateTime?: string;
  lastRefusedDateTime?: string;
}

const ACTIVITY_BY_NAME = new Map<string, Activity>(
  Object.entries(ACTIVITIES).map(([activity, { displayName }]) => [displayName, activity as Activity]),
);

function refusalsOf(entity: AuditEntity): RefusalCount | undefined {
  if (entity.refusedCount === undefined) return undefined;
  let tally: Record<string, number> = {};
  try {
    tally = JSON.parse(entity.refusalTally ?? '{}') as Record<string, number>;
  } catch {
    // A damaged tally loses its breakdown, never the count.
  }
  return {
    count: entity.refusedCount,
    tally,
    first: new Date(entity.firstRefusedDateTime ?? entity.activityDateTime),
    last: new Date(entity.lastRefusedDateTime ?? entity.activityDateTime),
  };
}

function toEntity(event: AuditEvent, hasTwin: boolean): TableEntity<AuditEntity> {
  // Client text is bounded and escaped here, once, for every kind of record (shared/audit/bounded.ts).
  const { source, resultReason } = boundedEvent(event);
  const { caller } = source;
  const { refusals } = event;
  return {
    partitionKey: partitionFor(event.at),
    rowKey: suffixOf(event),
    eventId: event.id,
    activityDisplayName: ACTIVITIES[event.activity].displayName,
    activityDateTime: event.at.toISOString(),
    result: event.result,
    resultReason,
    // What GET directoryAudits's targetResources filter finds: the key, or for a device status the device.
    targetId: event.keyId ?? (event.activity === 'status' ? event.deviceId : undefined),
    deviceId: event.deviceId,
    correlationId: source.requestId,
    oid: caller.oid,
    appId: caller.appId,
    upn: caller.upn,
    tid: caller.tid,
    callerDeviceId: caller.device?.deviceId,
    callerThumbprint: caller.device?.thumbprint,
    delegated: caller.delegated,
    userAgent: source.userAgent,
    clientName: source.clientName,
    clientVersion: source.clientVersion,
    revealReason: source.revealReason,
    revealTicket: source.revealTicket,
    modifiedProperties: event.modifiedProperties?.length ? JSON.stringify(event.modifiedProperties) : undefined,
    importSource: event.source.importedFrom,
    hasTwin,
    ...(refusals && {
      refusedCount: refusals.count,
      refusalTally: JSON.stringify(refusals.tally),
      firstRefusedDateTime: refusals.first.toISOString(),
      lastRefusedDateTime: refusals.last.toISOString(),
    }),
  };
}

/** The AuditLog entity of an event with no twin (a read, a refusal), as writeAuditEntry would store it: what the audit outbox keeps. */
export const auditLogEntity = (event: AuditEvent): TableEntity<object> => toEntity(event, false);

const isModifiedProperty = (value: unknown): value is ModifiedProperty => {
  const p = value as ModifiedProperty | null;
  const text = (v: unknown): boolean => v === null || typeof v === 'string';
  return typeof p === 'object' && p !== null && typeof p.displayName === 'string' && text(p.oldValue) && text(p.newValue);
};

/** The stored list, or none: a row that was altered into something else shows no changes rather than failing the page. */
function modifiedPropertiesOf(json: string | undefined): ModifiedProperty[] | undefined {
  if (json === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) && parsed.every(isModifiedProperty) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function fromEntity(entity: TableEntityResult<AuditEntity>): AuditEvent {
  const refusals = refusalsOf(entity);
  return {
    id: entity.eventId,
    activity: ACTIVITY_BY_NAME.get(entity.activityDisplayName) ?? 'read',
    at: new Date(entity.activityDateTime),
    result: entity.result === 'success' ? 'success' : 'failure',
    resultReason: entity.resultReason,
    keyId: entity.targetId,
    deviceId: entity.deviceId,
    modifiedProperties: modifiedPropertiesOf(entity.modifiedProperties),
    source: {
      requestId: entity.correlationId,
      userAgent: entity.userAgent,
      clientName: entity.clientName,
      clientVersion: entity.clientVersion,
      revealReason: entity.revealReason,
      revealTicket: entity.revealTicket,
      importedFrom: entity.importSource === 'entra' || entity.importSource === 'file' ? entity.importSource : undefined,
      caller: {
        oid: entity.oid,
        appId: entity.appId,
        upn: entity.upn,
        tid: entity.tid,
        // Rows from before `delegated` was kept: a upn was then the only sign of a user.
        delegated: entity.delegated ?? entity.upn !== undefined,
        permissions: new Set(),
        device: entity.callerDeviceId ? { deviceId: entity.callerDeviceId, thumbprint: entity.callerThumbprint ?? '' } : undefined,
      },
    },
    ...(refusals && { refusals }),
  };
}

/** The audit trail's 503, passing on when storage asked us to come back (if it said). */
function auditUnavailable(cause: unknown): GraphError {
  const outcome = toStorageError(cause);
  const unavailable = serviceUnavailable(
    'The audit trail could not be written, so the operation was not carried out; try again shortly.',
    (outcome instanceof StorageError ? outcome.retryAfterSeconds : undefined) ?? UNREACHABLE_RETRY_AFTER_S,
  );
  // The failed call's details (call, code, tries, ms) for graphHandler's dependencyFailure log line.
  if (outcome instanceof StorageError) unavailable.logDetails = outcome.details;
  return unavailable;
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

/** What GET /auditLogs/directoryAudits asks for; `from` and `to` are inclusive, to the millisecond (shared/audit/query.ts rounds finer bounds). */
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

/**
 * The time clauses of a range of inclusive millisecond bounds, or undefined when no row can be in it.
 * Newest first: the later bound gives the smaller inverted keys. Every RowKey is a 13-digit inverted time,
 * '-' and an id, so `RowKey lt '{prefix}.'` ('.' follows '-') holds every row of that millisecond and
 * later. The PartitionKey clauses add nothing to the result; they keep the scan within the range's days.
 */
function timeClauses(from: Date | undefined, to: Date | undefined): string[] | undefined {
  const fromMs = from?.getTime();
  const toMs = to?.getTime();
  if ((fromMs !== undefined && fromMs > MAX_MS) || (toMs !== undefined && toMs < 0)) return undefined;
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) return undefined;
  const clauses: string[] = [];
  if (to && toMs! < MAX_MS) clauses.push(odata`PartitionKey ge ${partitionFor(to)}`, odata`RowKey ge ${rowPrefixFor(toMs!)}`);
  if (from && fromMs! > 0) clauses.push(odata`PartitionKey le ${partitionFor(from)}`, odata`RowKey lt ${`${rowPrefixFor(fromMs!)}.`}`);
  return clauses;
}

/** The whole filter, or undefined when the query cannot match any row. */
function filterFor(query: AuditQuery): string | undefined {
  const clauses = timeClauses(query.from, query.to);
  if (!clauses) return undefined;
  if (query.activity) clauses.push(odata`activityDisplayName eq ${query.activity}`);
  if (query.targetId) clauses.push(odata`targetId eq ${query.targetId}`);
  return clauses.join(' and ');
}

async function twinExists(event: AuditEvent): Promise<boolean> {
  try {
    // A device status's twin is in the device's partition of its table; a key write's in the key's.
    const [table, partition] = event.activity === 'status' ? [TABLES.deviceStatuses, event.deviceId!] : [TABLES.recoveryKeys, event.keyId!];
    await (await tableClient(table)).getEntity(partition, twinRowKey(event), { queryOptions: { select: ['RowKey'] } });
    return true;
  } catch (error) {
    if (isStorageError(error, 'gone')) return false;
    throw error;
  }
}

/** One page of audit events, newest first. */
export async function listAuditEvents(query: AuditQuery, pageSize: number, continuation?: string): Promise<AuditPage> {
  const filter = filterFor(query);
  if (filter === undefined) return { items: [] };
  const entities = (await tableClient(AUDIT_TABLE)).listEntities<AuditEntity>({ queryOptions: filter ? { filter } : {} });
  const page = await firstPage(entities.byPage({ maxPageSize: pageSize, continuationToken: continuation }));
  const rows: TableEntityResult<AuditEntity>[] = page ?? [];
  const shown = await Promise.all(
    rows.map(async (row) => {
      const event = fromEntity(row);
      return row.hasTwin && !(await twinExists(event)) ? undefined : event;
    }),
  );
  return { items: shown.filter((e): e is AuditEvent => e !== undefined), continuation: page?.continuationToken };
}

/** Tries of a summary merge before it gives up: each lost race means another instance's merge went in. */
const MAX_MERGE_ATTEMPTS = 8;

/**
 * Adds a refusal summary's counts into its row. The row's key is fixed by the event (its minute and its
 * deterministic id), so every instance adds into the same one row: created if absent, else replaced
 * against the ETag just read, and re-read after a lost race (409 on create, 412 on replace). The newest
 * merge's request-id, headers and reason are kept with the summed counts. Any storage failure is a 503.
 */
export async function addToRefusalSummary(event: AuditEvent): Promise<void> {
  const added = event.refusals;
  if (!added) throw new Error('addToRefusalSummary needs an event with refusals');
  const [partitionKey, rowKey] = [partitionFor(event.at), suffixOf(event)];
  let merged: boolean;
  try {
    const client = await tableClient(AUDIT_TABLE);
    merged = await retryLostRaces(
      MAX_MERGE_ATTEMPTS,
      async () => {
        let stored: TableEntityResult<AuditEntity> | undefined;
        try {
          stored = await client.getEntity<AuditEntity>(partitionKey, rowKey);
        } catch (error) {
          if (!isStorageError(error, 'gone')) throw error;
        }
        const storedCounts = stored && refusalsOf(stored);
        const counts = storedCounts ? sumRefusals(storedCounts, added) : added;
        const entity = toEntity({ ...event, refusals: counts }, false);
        try {
          if (stored) await client.updateEntity(entity, 'Replace', { etag: stored.etag });
          else await client.createEntity(entity);
          return true;
        } catch (error) {
          if (isStorageError(error, 'exists', 'versionMoved')) return new LostRace(error);
          throw error;
        }
      },
      () => false,
    );
  } catch (error) {
    throw auditUnavailable(error);
  }
  if (!merged) throw serviceUnavailable('The audit trail is being changed by other requests; try again.', 1);
}
