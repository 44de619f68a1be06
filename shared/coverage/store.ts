import { odata, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { firstPage } from '../storage/firstPage';
import { isStorageError, toStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import { TABLES } from '../storage/layout';
import { COVERAGE_FLAGS, COVERAGE_STATES, type CoverageFlag, type CoverageReportHead, type CoverageRow, type CoverageState, type CoverageSummary, emptySummary } from './model';

// Layout (CoverageReport):
//   PartitionKey 'r-{reportId}-{state}', RowKey = device id   one device's row: a page of a state is one partition query
//   PartitionKey 'latest', RowKey 'report'                     the latest complete report: id, time, summary
//   PartitionKey 'daily',  RowKey 'YYYY-MM-DD'                 each day's last summary (the trend)
//   PartitionKey 'run',    RowKey 'checkpoint'                 the computation under way: where it is, its counts so far
// A report id sorts by time. The latest report and the one before it are kept (a reader paging through
// the one before when a new one lands finishes its pages); older ones are deleted by the run that
// replaces them.

const LATEST = { partitionKey: 'latest', rowKey: 'report' };
const DAILY_PARTITION = 'daily';
const CHECKPOINT = { partitionKey: 'run', rowKey: 'checkpoint' };
/** Azure Table Storage takes at most 100 operations in one transaction, all in one partition. */
const MAX_BATCH = 100;
/** Ids kept per list of a row: a row stays far below Table Storage's 64 KiB per property. */
const MAX_IDS_PER_ROW = 200;

export const statePartition = (reportId: string, state: CoverageState): string => `r-${reportId}-${state}`;

const PARTITION = /^r-([0-9TZ]+-[0-9a-f]{8})-([A-Za-z]+)$/;

/** The report id and state of a row partition's name, or undefined. */
export function parseStatePartition(partitionKey: string): { reportId: string; state: CoverageState } | undefined {
  const match = PARTITION.exec(partitionKey);
  const state = match?.[2] as CoverageState | undefined;
  return match && COVERAGE_STATES.includes(state!) ? { reportId: match[1], state: state! } : undefined;
}

interface RowEntity {
  displayName?: string;
  userPrincipalName?: string;
  flags: string;
  lastReportedDateTime?: string;
  liveKeyCount: number;
  missingKeyIds: string;
  staleKeyIds: string;
  overdueKeyIds: string;
}

interface HeadEntity {
  reportId: string;
  generatedDateTime: string;
  summary: string;
  /** The report this one replaced, kept for readers still paging through it. */
  previousReportId?: string;
  previousGeneratedDateTime?: string;
  previousSummary?: string;
}

/** The latest report, and the one it replaced (if any). */
export interface LatestReports {
  latest: CoverageReportHead;
  previous?: CoverageReportHead;
}

export interface CoverageCheckpoint {
  reportId: string;
  startedAt: string;
  /** The last device whose row is written; the run resumes after it. '' before the first. */
  after: string;
  summary: CoverageSummary;
}

const table = () => tableClient(TABLES.coverage);
const ids = (list: string): string[] => (list ? list.split(',') : []);

function summaryOf(json: string | undefined): CoverageSummary {
  try {
    return { ...emptySummary(), ...(JSON.parse(json ?? '{}') as Partial<CoverageSummary>) };
  } catch {
    return emptySummary();
  }
}

function rowEntity(reportId: string, row: CoverageRow) {
  return {
    partitionKey: statePartition(reportId, row.state),
    rowKey: row.deviceId,
    displayName: row.displayName,
    userPrincipalName: row.userPrincipalName,
    flags: row.flags.join(','),
    lastReportedDateTime: row.lastReportedDateTime,
    liveKeyCount: row.liveKeyCount,
    missingKeyIds: row.missingKeyIds.slice(0, MAX_IDS_PER_ROW).join(','),
    staleKeyIds: row.staleKeyIds.slice(0, MAX_IDS_PER_ROW).join(','),
    overdueKeyIds: row.overdueKeyIds.slice(0, MAX_IDS_PER_ROW).join(','),
  };
}

function fromRowEntity(state: CoverageState, entity: TableEntityResult<RowEntity>): CoverageRow {
  return {
    deviceId: entity.rowKey!,
    ...(entity.displayName !== undefined && { displayName: entity.displayName }),
    ...(entity.userPrincipalName !== undefined && { userPrincipalName: entity.userPrincipalName }),
    state,
    flags: ids(entity.flags).filter((flag): flag is CoverageFlag => (COVERAGE_FLAGS as readonly string[]).includes(flag)),
    ...(entity.lastReportedDateTime !== undefined && { lastReportedDateTime: entity.lastReportedDateTime }),
    liveKeyCount: entity.liveKeyCount,
    missingKeyIds: ids(entity.missingKeyIds),
    staleKeyIds: ids(entity.staleKeyIds),
    overdueKeyIds: ids(entity.overdueKeyIds),
  };
}

/** Writes rows (upserts, so a resumed run rewriting a row counts nothing twice): one transaction per state and hundred rows. */
export async function writeRows(reportId: string, rows: readonly CoverageRow[]): Promise<number> {
  const client = await table();
  let requests = 0;
  for (const state of COVERAGE_STATES) {
    const ofState = rows.filter((row) => row.state === state);
    for (let i = 0; i < ofState.length; i += MAX_BATCH) {
      const actions: TransactionAction[] = ofState.slice(i, i + MAX_BATCH).map((row) => ['upsert', rowEntity(reportId, row), 'Replace']);
      await storageCall(() => client.submitTransaction(actions));
      requests++;
    }
  }
  return requests;
}

export async function readCheckpoint(): Promise<CoverageCheckpoint | undefined> {
  try {
    const entity = await (await table()).getEntity<{ reportId: string; startedAt: string; after: string; summary: string }>(
      CHECKPOINT.partitionKey,
      CHECKPOINT.rowKey,
    );
    return { reportId: entity.reportId, startedAt: entity.startedAt, after: entity.after, summary: summaryOf(entity.summary) };
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw toStorageError(error, 'The coverage checkpoint');
  }
}

export async function saveCheckpoint(checkpoint: CoverageCheckpoint): Promise<void> {
  const entity = { ...CHECKPOINT, ...checkpoint, summary: JSON.stringify(checkpoint.summary) };
  await storageCall(async () => (await table()).upsertEntity(entity, 'Replace'), 'The coverage checkpoint');
}

export async function clearCheckpoint(): Promise<void> {
  await storageCall(async () => {
    try {
      await (await table()).deleteEntity(CHECKPOINT.partitionKey, CHECKPOINT.rowKey);
    } catch (error) {
      if (!isStorageError(error, 'gone')) throw error;
    }
  });
}

export async function readLatest(): Promise<LatestReports | undefined> {
  try {
    const entity = await (await table()).getEntity<HeadEntity>(LATEST.partitionKey, LATEST.rowKey);
    const latest = { reportId: entity.reportId, generatedDateTime: entity.generatedDateTime, summary: summaryOf(entity.summary) };
    if (!entity.previousReportId) return { latest };
    const previous = {
      reportId: entity.previousReportId,
      generatedDateTime: entity.previousGeneratedDateTime ?? '',
      summary: summaryOf(entity.previousSummary),
    };
    return { latest, previous };
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw toStorageError(error, 'The coverage report');
  }
}

/** Makes `head` the latest report and the day's summary; the id of the report now no longer kept (the one before the replaced one), if any. */
export async function publish(head: CoverageReportHead): Promise<string | undefined> {
  const before = await readLatest();
  const summary = JSON.stringify(head.summary);
  const client = await table();
  const replaced = before?.latest;
  const entity: HeadEntity & typeof LATEST = {
    ...LATEST,
    reportId: head.reportId,
    generatedDateTime: head.generatedDateTime,
    summary,
    ...(replaced && {
      previousReportId: replaced.reportId,
      previousGeneratedDateTime: replaced.generatedDateTime,
      previousSummary: JSON.stringify(replaced.summary),
    }),
  };
  await storageCall(() => client.upsertEntity(entity, 'Replace'));
  const day = { partitionKey: DAILY_PARTITION, rowKey: head.generatedDateTime.slice(0, 10), reportId: head.reportId, generatedDateTime: head.generatedDateTime, summary };
  await storageCall(() => client.upsertEntity(day, 'Replace'));
  return before?.previous?.reportId;
}

/** Each day's last summary, oldest first, for the last `days` days. */
export async function readTrend(days: number, now = new Date()): Promise<{ date: string; generatedDateTime: string; summary: CoverageSummary }[]> {
  const from = new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
  return storageCall(async () => {
    const trend = [];
    const rows = (await table()).listEntities<HeadEntity>({ queryOptions: { filter: odata`PartitionKey eq ${DAILY_PARTITION} and RowKey ge ${from}` } });
    for await (const row of rows) trend.push({ date: row.rowKey!, generatedDateTime: row.generatedDateTime, summary: summaryOf(row.summary) });
    return trend;
  });
}

/** Deletes every row of a report, a hundred per transaction. How many storage requests it took. */
export async function deleteReport(reportId: string): Promise<number> {
  const client = await table();
  let requests = 0;
  for (const state of COVERAGE_STATES) {
    const partitionKey = statePartition(reportId, state);
    const rows = client.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}`, select: ['RowKey'] } });
    await storageCall(async () => {
      for await (const page of rows.byPage({ maxPageSize: MAX_BATCH })) {
        requests++;
        if (page.length === 0) continue;
        await client.submitTransaction(page.map((row): TransactionAction => ['delete', { partitionKey, rowKey: row.rowKey! }]));
        requests++;
      }
    });
  }
  return requests;
}

export interface RowPage {
  rows: CoverageRow[];
  /** The storage continuation within the partition, absent on its last page. */
  continuation?: string;
}

/** One page of one state's rows of a report: one partition query. */
export async function readRows(reportId: string, state: CoverageState, top: number, continuation?: string): Promise<RowPage> {
  const partitionKey = statePartition(reportId, state);
  const page = await storageCall(async () => {
    const rows = (await table()).listEntities<RowEntity>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } });
    return firstPage(rows.byPage({ maxPageSize: top, continuationToken: continuation }));
  });
  return { rows: (page ?? []).map((entity) => fromRowEntity(state, entity)), continuation: page?.continuationToken };
}

/** Every row of a report, state by state, in device-id order within each: for the CSV. */
export async function* scanRows(reportId: string, state?: CoverageState): AsyncGenerator<CoverageRow> {
  for (const each of state ? [state] : COVERAGE_STATES) {
    let continuation: string | undefined;
    do {
      const page = await readRows(reportId, each, 1000, continuation);
      yield* page.rows;
      continuation = page.continuation;
    } while (continuation);
  }
}
