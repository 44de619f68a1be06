import { badRequest, notFound } from '../errors/graphError';
import type { JsonObject } from '../http/responses';
import { continuationOf, INVALID_SKIP_TOKEN_MESSAGE, nextLinkOf } from '../odata';
import { COVERAGE_STATES, type CoverageReportHead, type CoverageRow, type CoverageState } from './model';
import type { ReportQuery } from './reportQuery';
import { parseStatePartition, readLatest, readRows, readTrend, statePartition } from './store';

// One page of GET coverageReport: the report's head (time, summary) and one partition query's rows.
// Without a filter the pages walk the states in order, one state's partition per page; the page token
// is the storage continuation itself ({nextPartitionKey, nextRowKey}), whose partition names the report
// and the state, so a page is always exactly one query.

export const COVERAGE_CONTEXT = 'informationProtection/bitlocker/coverageReport';
/** Days of daily summaries the first page carries. */
export const TREND_DAYS = 90;

const NO_REPORT = 'No coverage report has been computed yet: run npm run coverage, or set COVERAGE_SCHEDULE.';

// The storage SDK's continuation is base64 of JSON whose keys are themselves base64 (@azure/data-tables
// encodeContinuationToken).
const base64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');
const unbase64 = (text: string): string => Buffer.from(text, 'base64').toString('latin1');

/** The storage SDK's continuation for the first page of a partition. */
const startOf = (partitionKey: string): string => base64(JSON.stringify({ nextPartitionKey: base64(partitionKey) }));

interface Position {
  head: CoverageReportHead;
  state: CoverageState;
  /** Undefined at the start of the state's partition. */
  continuation?: string;
}

/** The first state from `from` on with rows (by the summary), if any; with a filter, the filter's state alone. */
function stateWithRows(head: CoverageReportHead, from: number): CoverageState | undefined {
  return COVERAGE_STATES.slice(from).find((state) => head.summary[state] > 0);
}

async function positionOf(query: ReportQuery, fingerprint: string): Promise<Position> {
  const reports = await readLatest();
  if (!reports) throw notFound(NO_REPORT);
  const continuation = continuationOf(query.skipToken, fingerprint);
  if (continuation === undefined) {
    const head = reports.latest;
    return { head, state: query.state ?? stateWithRows(head, 0) ?? COVERAGE_STATES[0] };
  }
  const { nextPartitionKey, nextRowKey } = JSON.parse(unbase64(continuation)) as { nextPartitionKey: string; nextRowKey?: string };
  const at = parseStatePartition(unbase64(nextPartitionKey));
  if (!at || (query.state !== undefined && at.state !== query.state)) throw badRequest(INVALID_SKIP_TOKEN_MESSAGE);
  const head = [reports.latest, reports.previous].find((report) => report?.reportId === at.reportId);
  if (!head) throw badRequest('The report this page belongs to has been replaced by newer ones; start again from the first page.');
  return { head, state: at.state, ...(nextRowKey !== undefined && { continuation }) };
}

/**
 * The body of one page; `publicUrl` is the request's, for @odata.nextLink. `shown` keeps the rows the
 * caller may see (a scoped user's devices): the page may come back shorter, its nextLink as it was.
 */
export async function coverageReportPage(
  query: ReportQuery,
  publicUrl: URL,
  serviceRoot: string,
  shown: (rows: readonly CoverageRow[]) => Promise<CoverageRow[]>,
): Promise<JsonObject> {
  const fingerprint = `coverageReport:${query.state ?? '*'}`;
  const { head, state, continuation } = await positionOf(query, fingerprint);
  const page = await readRows(head.reportId, state, query.top, continuation);
  let next = page.continuation;
  if (next === undefined && query.state === undefined) {
    const nextState = stateWithRows(head, COVERAGE_STATES.indexOf(state) + 1);
    if (nextState) next = startOf(statePartition(head.reportId, nextState));
  }
  const body: JsonObject = {
    '@odata.context': `${serviceRoot}/$metadata#${COVERAGE_CONTEXT}`,
    generatedDateTime: head.generatedDateTime,
    summary: head.summary,
    ...(query.skipToken === undefined && { trend: await readTrend(TREND_DAYS) }),
    value: await shown(page.rows),
  };
  const nextLink = nextLinkOf(publicUrl, fingerprint, next);
  if (nextLink !== undefined) body['@odata.nextLink'] = nextLink;
  return body;
}
