import { createHash } from 'node:crypto';
import { ACTIVITIES, type Activity } from './model';

// The AuditLog layout (docs/storage.md "Audit trail"). Every event is stored as two or three copies of
// one entity, in one partition, written in one transaction:
//
//   PartitionKey  s0 … s7                            the event's shard: a hash of its target (the key, or
//                                                     for a device status the device), else of its id
//   RowKey        t-{inverted ms}-{event id}          the trail by time
//                 a-{activity}-{inverted ms}-{id}     by activity ('a-read-…')
//                 k-{target id}-{inverted ms}-{id}    by target: a key's (or device's) history
//                 i-{initiator id}-{inverted ms}-{id} by initiator: the caller's object id (a user's,
//                                                     or an app's service principal's), lowercase
//
// Inverted times make ascending order newest first, and a time range a RowKey range, in every family.
// The trail by time or by activity is one partition query per shard, merged newest first (a page costs
// AUDIT_SHARDS requests in one round trip, whatever the table holds); a key's history is one partition
// query, its shard being its key's. Spreading the writes over AUDIT_SHARDS partitions keeps any one
// partition to a fraction of the tenant's audit traffic (Azure's target: 2,000 entities a second per
// partition); one key's own events share a partition, which is what makes its history one query.
//
// Rows of the earlier layout (PartitionKey = the inverted UTC day, RowKey = inverted ms-id) sort
// before 's' and are moved into this one by the retention job (shared/audit/retention.ts).

/** Partitions the trail is spread over. Changing it moves events: the shard of an event is part of its keys. */
export const AUDIT_SHARDS = 8;

export const SHARD_PARTITIONS: readonly string[] = Array.from({ length: AUDIT_SHARDS }, (_, shard) => `s${shard}`);

/** Every partition of the earlier, by-day layout sorts below this. */
export const FIRST_SHARD_PARTITION = 's';

/**
 * The latest instant the 13-digit inverted time can hold (2286-11-20T17:46:39.999Z). Rows are written
 * with the current time, so none is before 1970 (ms 0) or after this; a query bound outside that span
 * is no bound at all (or, facing the other way, excludes everything), never an out-of-range key.
 */
export const MAX_MS = 9_999_999_999_999;

export const invertedMs = (ms: number): string => String(MAX_MS - ms).padStart(13, '0');

/** `{inverted ms}-{event id}`: an event's place in every family, newest first. */
export const positionOf = (at: Date, eventId: string): string => `${invertedMs(at.getTime())}-${eventId}`;

/** A position as a continuation carries it: 13 digits, '-', an event id. */
export const POSITION = /^\d{13}-[0-9A-Za-z-]{1,64}$/;

export function shardOf(targetId: string | undefined, eventId: string): string {
  const digest = createHash('sha256')
    .update(targetId ?? eventId)
    .digest();
  return SHARD_PARTITIONS[digest[0] % AUDIT_SHARDS];
}

/** The RowKey prefix of a family: everything before the position. */
export const TIME_FAMILY = 't-';
export const activityFamily = (activity: Activity): string => `a-${activity}-`;
export const targetFamily = (targetId: string): string => `k-${targetId}-`;
export const initiatorFamily = (initiatorId: string): string => `i-${initiatorId.toLowerCase()}-`;

/** The first RowKey after every row of a family ('.' follows '-'). */
export const familyEnd = (family: string): string => `${family.slice(0, -1)}.`;

/** What fixes an event's rows: its shard, its position and the families it is in. */
export interface EventKeys {
  eventId: string;
  at: Date;
  activity: Activity;
  targetId?: string;
  /** The caller's object id. */
  initiatorId?: string;
}

/** The PartitionKey and the RowKeys of an event's copies. */
export function rowsOf({ eventId, at, activity, targetId, initiatorId }: EventKeys): { partitionKey: string; rowKeys: string[] } {
  const position = positionOf(at, eventId);
  const families = [
    TIME_FAMILY,
    activityFamily(activity),
    ...(targetId !== undefined ? [targetFamily(targetId)] : []),
    ...(initiatorId !== undefined ? [initiatorFamily(initiatorId)] : []),
  ];
  return { partitionKey: shardOf(targetId, eventId), rowKeys: families.map((family) => family + position) };
}

const ACTIVITY_BY_NAME = new Map<string, Activity>(
  Object.entries(ACTIVITIES).map(([activity, { displayName }]) => [displayName, activity as Activity]),
);

/** The activity of a stored display name ('read' for a name this version does not know). */
export const activityNamed = (displayName: string): Activity => ACTIVITY_BY_NAME.get(displayName) ?? 'read';

/** A filter condition for the time rows alone: one row per event, as the trail's tools and tests count them. */
export const TIME_ROWS = `(RowKey ge '${TIME_FAMILY}' and RowKey lt '${familyEnd(TIME_FAMILY)}')`;
