import { odata, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { badRequest } from '../errors/graphError';
import { firstPage } from '../storage/firstPage';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { INVALID_SKIP_TOKEN_MESSAGE } from '../odata/skipToken';
import { type AuditEntity, fromEntity, keysOfStored } from './entity';
import type { AuditEvent } from './model';
import {
  activityFamily,
  activityNamed,
  familyEnd,
  initiatorFamily,
  invertedMs,
  MAX_MS,
  POSITION,
  positionOf,
  rowsOf,
  SHARD_PARTITIONS,
  shardOf,
  TIME_FAMILY,
  targetFamily,
} from './rows';
import { TABLES } from '../storage/layout';

// Pages of the audit trail (layout: rows.ts), newest first. A query names one family of rows (by
// time, by activity, by target or by initiator) and reads it in every partition that can hold it: every shard, or
// for a target its one shard. The shards' answers are merged by position, and a page goes no further
// than the least far any shard with more to give has answered: the next page starts after the last
// event shown (the continuation is that position), so a page costs one request per partition read,
// in one round trip, at any depth.
//
// Rows of a write are shown once its twin exists (store.ts). A page looks for the twins of at most
// TWIN_LOOKUPS targets (one partition query each) and stops before a row that would need another;
// the rows whose twin it found are marked confirmed, those whose twin is still missing long after
// their write withdrawn (one transaction per audit partition), so no later page looks again.

/** What GET /auditLogs/directoryAudits asks for; `from` and `to` are inclusive, to the millisecond (shared/audit/query.ts rounds finer bounds). */
export interface AuditQuery {
  from?: Date;
  to?: Date;
  activity?: string;
  targetId?: string;
  /** The caller's object id: initiatedBy/user/id or initiatedBy/app/servicePrincipalId. */
  initiatorId?: string;
}

export interface AuditPage {
  items: AuditEvent[];
  continuation?: string;
}

/** Targets whose twins one page may look up; rows needing more are left for the next page. */
export const TWIN_LOOKUPS = 4;

/**
 * A write's twin still missing this long after the write's time means the write never committed: far
 * beyond any request's storage deadline (shared/storage/callLimits.ts).
 */
const WITHDRAW_AFTER_MS = 15 * 60_000;

type Row = TableEntityResult<AuditEntity>;

/** The continuation of a page: a position, dressed as the storage SDK's token (shared/odata/skipToken.ts checks that shape). */
const tokenOf = (position: string): string =>
  Buffer.from(JSON.stringify({ nextPartitionKey: 'audit', nextRowKey: position })).toString('base64');

function positionIn(continuation: string): string {
  const { nextRowKey } = JSON.parse(Buffer.from(continuation, 'base64').toString('latin1')) as { nextRowKey?: string };
  // A token of the earlier layout (a storage continuation) or anything else: start again.
  if (nextRowKey === undefined || !POSITION.test(nextRowKey)) throw badRequest(INVALID_SKIP_TOKEN_MESSAGE);
  return nextRowKey;
}

/** The RowKey range of `family` within the query's times, after `after`; undefined when no row can be in it. */
function rowRange(family: string, { from, to }: AuditQuery, after: string | undefined): string | undefined {
  const fromMs = from?.getTime();
  const toMs = to?.getTime();
  if ((fromMs !== undefined && fromMs > MAX_MS) || (toMs !== undefined && toMs < 0)) return undefined;
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) return undefined;
  // Newest first: the later bound gives the smaller keys. `{prefix}.` holds every row of that millisecond ('.' follows '-').
  const lower =
    after !== undefined
      ? odata`RowKey gt ${family + after}`
      : odata`RowKey ge ${family + (toMs !== undefined && toMs < MAX_MS ? invertedMs(toMs) : '')}`;
  const upper = odata`RowKey lt ${fromMs !== undefined && fromMs > 0 ? `${family}${invertedMs(fromMs)}.` : familyEnd(family)}`;
  return `${lower} and ${upper}`;
}

/** The family and partitions a query reads, with any conditions the family does not carry. */
function plan(query: AuditQuery): { family: string; partitions: readonly string[]; extra: string[] } {
  const activity = query.activity !== undefined ? [odata`activityDisplayName eq ${query.activity}`] : [];
  if (query.targetId !== undefined) {
    const initiator = query.initiatorId !== undefined ? [odata`oid eq ${query.initiatorId}`] : [];
    return { family: targetFamily(query.targetId), partitions: [shardOf(query.targetId, '')], extra: [...activity, ...initiator] };
  }
  if (query.initiatorId !== undefined) return { family: initiatorFamily(query.initiatorId), partitions: SHARD_PARTITIONS, extra: activity };
  if (query.activity !== undefined)
    return { family: activityFamily(activityNamed(query.activity)), partitions: SHARD_PARTITIONS, extra: [] };
  return { family: TIME_FAMILY, partitions: SHARD_PARTITIONS, extra: [] };
}

const needsTwin = (row: Row): boolean => row.hasTwin && row.confirmed !== true;

/** Where the twin of a row's event is: a device status's in the device's partition of its table, a key write's in the key's. */
function twinPartitionOf(row: Row): { table: string; partition: string } {
  const event = fromEntity(row);
  return event.activity === 'status'
    ? { table: TABLES.deviceStatuses, partition: event.deviceId ?? '' }
    : { table: TABLES.recoveryKeys, partition: event.keyId ?? '' };
}

/** A row's position: what follows its family's prefix. */
const positionOfRow = (row: Row): string => positionOf(new Date(row.activityDateTime), row.eventId);

/** The positions of the twins present in one partition, among those of `rows` (one partition query over their span). */
async function twinsPresent(table: string, partition: string, rows: Row[]): Promise<Set<string>> {
  const positions = rows.map(positionOfRow).sort();
  const filter = odata`PartitionKey eq ${partition} and RowKey ge ${`audit-${positions[0]}`} and RowKey le ${`audit-${positions.at(-1)!}`}`;
  const found = new Set<string>();
  const twins = (await tableClient(table)).listEntities({ queryOptions: { filter, select: ['RowKey'] } });
  for await (const twin of twins) found.add(twin.rowKey!.slice('audit-'.length));
  return found;
}

/** Marks every row of the given events, by partition, one transaction each (best effort: a row left unmarked is looked at again). */
async function mark(rows: Row[], property: 'confirmed' | 'withdrawn'): Promise<void> {
  const byPartition = new Map<string, TransactionAction[]>();
  for (const row of rows) {
    const { partitionKey, rowKeys } = rowsOf(keysOfStored(row));
    const actions = byPartition.get(partitionKey) ?? [];
    for (const rowKey of rowKeys) actions.push(['update', { partitionKey, rowKey, [property]: true }, 'Merge']);
    byPartition.set(partitionKey, actions);
  }
  const client = await tableClient(TABLES.auditLog);
  await Promise.all([...byPartition.values()].map((actions) => client.submitTransaction(actions.slice(0, 100)).catch(() => undefined)));
}

/** The rows of a page that may be shown, checking (and marking) the twins of at most TWIN_LOOKUPS targets; how far it got. */
async function checkTwins(rows: Row[], now: number): Promise<{ shown: Row[]; checked: number }> {
  const groups = new Map<string, Row[]>();
  let checked = 0;
  for (const row of rows) {
    if (row.withdrawn === true) {
      checked++;
      continue;
    }
    if (needsTwin(row)) {
      const { table, partition } = twinPartitionOf(row);
      const group = `${table}/${partition}`;
      if (!groups.has(group) && groups.size === TWIN_LOOKUPS) break;
      groups.set(group, [...(groups.get(group) ?? []), row]);
    }
    checked++;
  }
  const confirmed: Row[] = [];
  const withdrawn: Row[] = [];
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const { table, partition } = twinPartitionOf(group[0]);
      const present = await storageCall(() => twinsPresent(table, partition, group));
      for (const row of group) {
        if (present.has(positionOfRow(row))) confirmed.push(row);
        else if (now - new Date(row.activityDateTime).getTime() > WITHDRAW_AFTER_MS) withdrawn.push(row);
      }
    }),
  );
  await Promise.all([confirmed.length > 0 && mark(confirmed, 'confirmed'), withdrawn.length > 0 && mark(withdrawn, 'withdrawn')]);
  const shownSet = new Set(confirmed);
  const shown = rows.slice(0, checked).filter((row) => row.withdrawn !== true && (!needsTwin(row) || shownSet.has(row)));
  return { shown, checked };
}

/** One page of audit events, newest first. */
export async function listAuditEvents(query: AuditQuery, pageSize: number, continuation?: string, now = Date.now()): Promise<AuditPage> {
  const after = continuation !== undefined ? positionIn(continuation) : undefined;
  const { family, partitions, extra } = plan(query);
  const range = rowRange(family, query, after);
  if (range === undefined) return { items: [] };
  const client = await tableClient(TABLES.auditLog);
  const answers = await Promise.all(
    partitions.map((partition) =>
      storageCall(async () => {
        const filter = [odata`PartitionKey eq ${partition}`, range, ...extra].join(' and ');
        const page = await firstPage(client.listEntities<AuditEntity>({ queryOptions: { filter } }).byPage({ maxPageSize: pageSize }));
        return { rows: page ?? [], more: page?.continuationToken !== undefined };
      }),
    ),
  );
  // How far every partition has answered: up to the last row of each that has more, or everything.
  let horizon: string | undefined;
  for (const { rows, more } of answers) {
    if (!more) continue;
    const last = rows.at(-1)?.rowKey ?? family + (after ?? '');
    if (horizon === undefined || last < horizon) horizon = last;
  }
  const merged = answers
    .flatMap(({ rows }) => rows)
    .filter((row) => horizon === undefined || row.rowKey! <= horizon)
    .sort((a, b) => (a.rowKey! < b.rowKey! ? -1 : 1));
  const candidates = merged.slice(0, pageSize);
  const { shown, checked } = await checkTwins(candidates, now);
  const reached = candidates.slice(0, checked);
  const more = horizon !== undefined || merged.length > reached.length;
  const last = reached.at(-1);
  const position = last ? positionOfRow(last) : after;
  return {
    items: shown.map(fromEntity),
    ...(more && position !== undefined && { continuation: tokenOf(position) }),
  };
}
