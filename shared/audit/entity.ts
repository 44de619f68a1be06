import type { TableEntity } from '@azure/data-tables';
import { boundedEvent } from './bounded';
import { ACTIVITIES, type AuditEvent, type ModifiedProperty, type RefusalCount, type RevealBasis, type RevealBasisKind } from './model';
import { activityNamed, type EventKeys, rowsOf } from './rows';

// What every row of an audit event holds (its keys are rows.ts's): the directoryAudit's fields, flat.

export type AuditEntity = {
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
  revealBasis?: string;
  approvalId?: string;
  grantId?: string;
  scopeRule?: number;
  /** Shown only if its twin exists in the key's partition. */
  hasTwin: boolean;
  /** A row with a twin whose twin was found by a listing: shown without another look. */
  confirmed?: boolean;
  /** A row with a twin whose twin was still missing long after its write: its write never committed. Never shown. */
  withdrawn?: boolean;
  // A refusal summary (activity 'refusals') only:
  refusedCount?: number;
  /** JSON of RefusalCount.tally. */
  refusalTally?: string;
  firstRefusedDateTime?: string;
  lastRefusedDateTime?: string;
};

export function refusalsOf(entity: AuditEntity): RefusalCount | undefined {
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

/** The content of every row of `event` (the keys are rows.ts's). */
export function contentOf(event: AuditEvent, hasTwin: boolean): AuditEntity {
  // Client text is bounded and escaped here, once, for every kind of record (shared/audit/bounded.ts).
  const { source, resultReason } = boundedEvent(event);
  const { caller } = source;
  const { refusals } = event;
  return {
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
    revealBasis: source.reveal?.basis,
    approvalId: source.reveal?.approvalId,
    grantId: source.reveal?.grantId,
    scopeRule: source.reveal?.scopeRule,
    hasTwin,
    ...(refusals && {
      refusedCount: refusals.count,
      refusalTally: JSON.stringify(refusals.tally),
      firstRefusedDateTime: refusals.first.toISOString(),
      lastRefusedDateTime: refusals.last.toISOString(),
    }),
  };
}

const isModifiedProperty = (value: unknown): value is ModifiedProperty => {
  const p = value as ModifiedProperty | null;
  const text = (v: unknown): boolean => v === null || typeof v === 'string';
  return typeof p === 'object' && p !== null && typeof p.displayName === 'string' && text(p.oldValue) && text(p.newValue);
};

/** The stored list, or none: a row that was altered into something else shows no changes rather than failing the page. */

const REVEAL_BASES: ReadonlySet<string> = new Set<RevealBasisKind>(['role', 'scope', 'approval', 'selfService', 'grant']);

function revealOf(entity: AuditEntity): RevealBasis | undefined {
  const { revealBasis, approvalId, grantId, scopeRule } = entity;
  if (revealBasis === undefined && approvalId === undefined && grantId === undefined) return undefined;
  return {
    ...(revealBasis !== undefined && REVEAL_BASES.has(revealBasis) && { basis: revealBasis as RevealBasisKind }),
    ...(approvalId !== undefined && { approvalId }),
    ...(grantId !== undefined && { grantId }),
    ...(typeof scopeRule === 'number' && { scopeRule }),
  };
}

function modifiedPropertiesOf(json: string | undefined): ModifiedProperty[] | undefined {
  if (json === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) && parsed.every(isModifiedProperty) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function fromEntity(entity: AuditEntity): AuditEvent {
  const refusals = refusalsOf(entity);
  return {
    id: entity.eventId,
    activity: activityNamed(entity.activityDisplayName),
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
      reveal: revealOf(entity),
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

/** The keys of an event's rows, read from a stored copy (of this layout, the earlier one, or the audit outbox). */
export const keysOfStored = (entity: AuditEntity): EventKeys => ({
  eventId: entity.eventId,
  at: new Date(entity.activityDateTime),
  activity: activityNamed(entity.activityDisplayName),
  targetId: entity.targetId,
  initiatorId: entity.oid,
});

/** Every row of a stored event, rebuilt from one copy: how the outbox merge and the layout move write them. */
export function rowsOfStored(entity: AuditEntity): TableEntity<AuditEntity>[] {
  const { partitionKey, rowKeys } = rowsOf(keysOfStored(entity));
  const content = Object.fromEntries(
    Object.entries(entity).filter(([name]) => !['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.etag'].includes(name)),
  ) as unknown as AuditEntity;
  return rowKeys.map((rowKey) => ({ ...content, partitionKey, rowKey }));
}

/** Every row of `event`, as written. */
export function rowsOfEvent(event: AuditEvent, hasTwin: boolean): TableEntity<AuditEntity>[] {
  return rowsOfStored(contentOf(event, hasTwin));
}
