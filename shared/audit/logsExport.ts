import type { AggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import { type AuditLogsSettings, settings } from '../config';
import { describeError } from '../errors/describeError';
import { isStorageError } from '../storage/storageError';
import type { JsonObject } from '../http/responses';
import { serviceCredential } from '../graph/credential';
import { readExportCheckpoint, saveExportCheckpoint } from './exportCheckpoint';
import { listAuditEvents } from './listing';
import type { AuditEvent } from './model';
import { directoryAudit } from './representation';

// The audit trail's continuous export to a Log Analytics workspace (the table EscrowAudit_CL, which
// Microsoft Sentinel's rules in infra/sentinel/ read), through the Logs Ingestion API: one row per event,
// Graph's directoryAudit record as GET /v1.0/auditLogs/directoryAudits shows it, plus TimeGenerated.
//
// A run (the timer in functions/auditLogsExport.ts, every AUDIT_LOGS_SCHEDULE) exports every event after
// the checkpoint (exportCheckpoint.ts) and at or before now - EXPORT_LAG_MS, window by window: a
// window is a time range of the trail read as the API reads it (one partition query per shard, merged,
// never a scan: listing.ts), its events sent oldest first in batches cut only between milliseconds, and
// the checkpoint moved to each batch's last millisecond once the API has accepted the batch. Delivery
// is at least once: a run that stops between an upload and its checkpoint sends that batch again, and
// Log Analytics does not deduplicate (queries can, on `id`). A failed upload stops the run; the next
// one starts again at the checkpoint.

/**
 * Events are stamped when their request starts and written within its storage deadline (4 s), by any
 * instance, whose clocks may differ by a little: an event may land in the table with a time a moment
 * earlier than one already there. A refusal summary is stamped at the start of its minute and counts
 * into the same rows for that minute and its merge's retries (refusalBudget.ts: about 2 minutes and a
 * quarter at worst). Exporting only up to five minutes ago leaves both the time to land, and to be
 * complete, before the checkpoint passes them.
 */
export const EXPORT_LAG_MS = 5 * 60_000;
/** A first run exports the last day: what Sentinel's rules look back over, and then some; the API and the blobs hold the rest. */
export const FIRST_EXPORT_SPAN_MS = 86_400_000;
/** Events one upload (and one checkpoint step) carries; the SDK cuts it into requests of at most 1 MB. */
export const EXPORT_BATCH = 500;
/** A window holding more is read again at half its span, so that a run's memory stays bounded. */
const WINDOW_EVENTS = 5_000;
const FIRST_WINDOW_MS = 15 * 60_000;
const LONGEST_WINDOW_MS = 86_400_000;
/** A run starts no new window after this long, well within the timer's period and the Functions timeout. */
const RUN_BUDGET_MS = 4 * 60_000;
/** Rows a page of the trail asks each shard for (the most a Table Storage page holds). */
const PAGE_SIZE = 1_000;

export interface LogsExportRun {
  /** Events the API accepted in this run. */
  exported: number;
  /** Uploads (batches) accepted. */
  batches: number;
  /** The checkpoint at the end of the run. */
  exportedThrough: string;
  /** Whether the run reached now - EXPORT_LAG_MS (false: it stopped on its time budget, the next run goes on). */
  caughtUp: boolean;
  /** The run stopped because its checkpoint was changed by another (the outbox merge moving it back): the next run starts there. */
  checkpointMoved?: boolean;
}

/** Why a run stopped before its end (an upload or a storage call failed), with what it did before; its message is masked. */
export class LogsExportError extends Error {
  override name = 'LogsExportError';
  constructor(
    readonly run: LogsExportRun,
    override readonly cause: unknown,
  ) {
    super(failureReason(cause));
  }
}

/**
 * A failure as a log line may show it: the SDK's AggregateLogsUploadError says nothing itself (its
 * message is "undefined"), so its first request's status and message; never a header (the token).
 */
function failureReason(error: unknown): string {
  // By name, as the SDK's own isAggregateLogsUploadError checks, so the SDK loads only where it uploads.
  const failed =
    error instanceof Error && error.name === 'AggregateLogsUploadError' ? (error as AggregateLogsUploadError).errors[0]?.cause : error;
  const status = (failed as { statusCode?: unknown } | undefined)?.statusCode;
  return `${typeof status === 'number' ? `${status} ` : ''}${describeError(failed)}`;
}

/** The row of EscrowAudit_CL for one event: the API's record, TimeGenerated being its activityDateTime. */
export function logsRowOf(event: AuditEvent): JsonObject {
  const record = directoryAudit(event);
  return { TimeGenerated: record.activityDateTime, ...record };
}

let client: Promise<LogsIngestionClient> | undefined;

/** One client per process; the SDK (and @azure/identity) load on first use, on instances that export. */
function ingestionClient(endpoint: string): Promise<LogsIngestionClient> {
  client ??= import('@azure/monitor-ingestion').then(({ LogsIngestionClient }) => new LogsIngestionClient(endpoint, serviceCredential()));
  return client;
}

/** Every event after `after` and at or before `through` (ms), oldest first; undefined when there are more than `limit`. */
async function windowEvents(after: number, through: number, limit: number): Promise<AuditEvent[] | undefined> {
  const events: AuditEvent[] = [];
  let continuation: string | undefined;
  do {
    const page = await listAuditEvents({ from: new Date(after + 1), to: new Date(through) }, PAGE_SIZE, continuation);
    events.push(...page.items);
    if (events.length > limit) return undefined;
    continuation = page.continuation;
  } while (continuation !== undefined);
  return events.reverse();
}

/** The events in batches of about EXPORT_BATCH, cut only between milliseconds so that a checkpoint never splits one. */
function batchesOf(events: AuditEvent[]): AuditEvent[][] {
  const batches: AuditEvent[][] = [];
  let batch: AuditEvent[] = [];
  for (const event of events) {
    if (batch.length >= EXPORT_BATCH && batch.at(-1)!.at.getTime() !== event.at.getTime()) {
      batches.push(batch);
      batch = [];
    }
    batch.push(event);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export interface LogsExportOptions {
  /** Export up to this long ago (EXPORT_LAG_MS by default). */
  lagMs?: number;
  /** The rule and stream (AUDIT_LOGS_* by default). */
  target?: AuditLogsSettings;
}

/** Exports window after window from the checkpoint to `end` (ms) or the run's budget, recording progress in `run`. */
async function exportWindows({ endpoint, ruleId, stream }: AuditLogsSettings, end: number, run: LogsExportRun): Promise<void> {
  const started = Date.now();
  let checkpoint = await readExportCheckpoint(ruleId, stream);
  let through = checkpoint?.exportedThrough.getTime() ?? end - FIRST_EXPORT_SPAN_MS;
  run.exportedThrough = new Date(through).toISOString();
  const uploader = await ingestionClient(endpoint);
  let span = FIRST_WINDOW_MS;
  while (through < end && Date.now() - started < RUN_BUDGET_MS) {
    const windowEnd = Math.min(end, through + span);
    // A window of one millisecond is read whole, however full: nothing smaller can be checkpointed.
    const events = await windowEvents(through, windowEnd, windowEnd - through > 1 ? WINDOW_EVENTS : Infinity);
    if (events === undefined) {
      span = Math.max(1, Math.floor((windowEnd - through) / 2));
      continue;
    }
    const batches = batchesOf(events);
    if (batches.length === 0) batches.push([]);
    for (const [i, batch] of batches.entries()) {
      // The checkpoint moves only once the API has accepted the batch: a stop in between sends it again.
      if (batch.length > 0) await uploader.upload(ruleId, stream, batch.map(logsRowOf), { maxConcurrency: 1 });
      // The last batch (or an empty window) reaches the window's end: nothing else is in it.
      through = i === batches.length - 1 ? windowEnd : batch.at(-1)!.at.getTime();
      run.exported += batch.length;
      if (batch.length > 0) run.batches++;
      try {
        checkpoint = await saveExportCheckpoint(ruleId, stream, checkpoint, {
          exportedThrough: new Date(through),
          exportedEvents: (checkpoint?.exportedEvents ?? 0) + batch.length,
        });
      } catch (error) {
        // Moved meanwhile (the outbox merge moved it back, or another run): the next run starts from it.
        if (!isStorageError(error, 'versionMoved', 'exists')) throw error;
        run.checkpointMoved = true;
        return;
      }
      run.exportedThrough = new Date(through).toISOString();
    }
    // A quiet window: the next may be longer (a first run or a catch-up crosses a day in few reads).
    if (events.length < WINDOW_EVENTS / 4) span = Math.min(LONGEST_WINDOW_MS, span * 2);
  }
  run.caughtUp = through >= end;
}

/**
 * One run of the export. Resolves with what it did; rejects with a LogsExportError when an upload or a
 * storage call failed (what was accepted before stays accepted, and checkpointed).
 */
export async function runLogsExport({
  lagMs = EXPORT_LAG_MS,
  target = settings().auditLogs,
}: LogsExportOptions = {}): Promise<LogsExportRun> {
  if (target === undefined)
    throw new Error('The audit export to Log Analytics is off: AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID are not set');
  const run: LogsExportRun = { exported: 0, batches: 0, exportedThrough: '', caughtUp: false };
  try {
    await exportWindows(target, Date.now() - lagMs, run);
    return run;
  } catch (error) {
    throw new LogsExportError(run, error);
  }
}
