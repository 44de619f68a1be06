import { createHash } from 'node:crypto';
import { callerKey } from '../auth/caller';
import { ACTIVITIES, type AuditEvent, type RefusalCount, sumRefusals } from './model';
import { addToRefusalSummary, writeAuditEntry } from './store';
import { outsideStorageDeadline } from '../storage/requestDeadline';

// Refusals must not drown the audit trail: one identity with a valid token and no permission could
// otherwise write hundreds of records a second and push every real event out of the newest page.
// So per caller (validated tid + oid, shared/auth/caller.ts) and per UTC minute, the first
// REFUSALS_RECORDED_PER_MINUTE refusals are recorded one by one, before their answer goes out, as
// before; the rest are counted in this instance's memory and added, about once a second, into ONE
// summary row per caller and minute whose key is derived from the caller and the minute, so every
// instance adds into the same row (shared/audit/store.ts addToRefusalSummary, ETag-guarded).
//
// Why counted in memory and merged, not one storage merge per refusal: a merge per refusal would cost
// two storage calls per refused request and make every instance fight over one row's ETag; counted
// here, a refused request beyond the limit costs no storage call at all, and a flood costs one merge
// per caller per second per instance. Why a shared deterministic row, not a row per instance: the
// bound then holds however far the app scales out: per caller and minute, at most
// REFUSALS_RECORDED_PER_MINUTE rows per instance that served the caller, plus one summary row.
// The price: counts not yet merged when an instance stops (a crash, a scale-in) are lost, up to about
// a second of them, or more while storage is unavailable (the counts wait for MAX_MERGE_TRIES merges).
// Allowed operations never come here: each is recorded one by one.

/** Refusals of one caller recorded one by one per minute, per instance. */
export const REFUSALS_RECORDED_PER_MINUTE = 10;

/** How long counted refusals wait for others before their summary is merged: at most one merge per caller per second, per instance. */
export const SUMMARY_MERGE_DELAY_MS = 1_000;

/** A failed merge is tried again this many times (the wait grows by SUMMARY_MERGE_DELAY_MS × 5 each time), then its counts are given up. */
const MAX_MERGE_TRIES = 5;

/** Callers remembered at once; beyond, minutes gone by are forgotten first (their counts are merged before). */
const MAX_WINDOWS = 10_000;

const MINUTE_MS = 60_000;

/** Refusals of one window counted and not yet merged into its summary row. */
export interface Pending {
  counts: RefusalCount;
  /** The latest refusal counted: the summary shows its request-id, headers and reason. */
  latest: AuditEvent;
  tries: number;
}

/** One caller's refusals in one minute, on this instance. */
interface Window {
  caller: string;
  minute: number;
  recorded: number;
  pending?: Pending;
  timer?: NodeJS.Timeout;
}

const windows = new Map<string, Window>();
const merging = new Set<Promise<void>>();

/** A GUID-shaped id derived from the caller and the minute: every instance names the same summary row. */
function summaryId(caller: string, minute: number): string {
  const hex = createHash('sha256').update(`${caller}\n${minute}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** "Read BitLocker key: 403 authorization_error", from a refusal's reason ("403 authorization_error: ..."). */
function tallyKey(event: AuditEvent): string {
  const status = /^\d{3} [A-Za-z_]+/.exec(event.resultReason)?.[0] ?? 'other';
  return `${ACTIVITIES[event.activity].displayName}: ${status}`;
}

/** The window a refusal falls in: its caller (every spelling of one identity alike) and its UTC minute. */
export function refusalWindowOf(event: AuditEvent): Pick<Window, 'caller' | 'minute'> {
  return { caller: callerKey(event.source.caller), minute: Math.floor(event.at.getTime() / MINUTE_MS) };
}

/** The summary row's event for what a window counts: its id and time fixed by the caller and the minute alone. */
export function summaryEvent(window: Pick<Window, 'caller' | 'minute'>, pending: Pending): AuditEvent {
  return {
    id: summaryId(window.caller, window.minute),
    activity: 'refusals',
    at: new Date(window.minute * MINUTE_MS),
    result: 'failure',
    resultReason:
      `Refusals of this caller beyond ${REFUSALS_RECORDED_PER_MINUTE} in this minute, counted instead of recorded one by one. ` +
      `The latest: ${pending.latest.resultReason}`,
    source: pending.latest.source,
    refusals: pending.counts,
  };
}

function merge(window: Window): void {
  const { pending } = window;
  clearTimeout(window.timer);
  window.timer = undefined;
  window.pending = undefined;
  if (!pending) return;
  const done = addToRefusalSummary(summaryEvent(window, pending)).catch(() => {
    const retry = afterFailedMerge(pending, window.pending);
    if (!retry) {
      console.warn(
        JSON.stringify({
          event: 'refusalSummaryLost',
          minute: new Date(window.minute * MINUTE_MS).toISOString(),
          count: pending.counts.count,
        }),
      );
      return;
    }
    window.pending = retry.pending;
    schedule(window, retry.delayMs);
  });
  merging.add(done);
  void done.finally(() => merging.delete(done));
}

/**
 * What a failed merge leaves pending, and when to try it again: storage unavailable, the counts wait for
 * the next try, joined by whatever was counted since (whose latest refusal is the newer); undefined once
 * MAX_MERGE_TRIES merges have failed, when the counts are given up.
 */
export function afterFailedMerge(failed: Pending, since: Pending | undefined): { pending: Pending; delayMs: number } | undefined {
  const tries = failed.tries + 1;
  if (tries >= MAX_MERGE_TRIES) return undefined;
  const pending = since ? { ...since, counts: sumRefusals(failed.counts, since.counts), tries } : { ...failed, tries };
  return { pending, delayMs: SUMMARY_MERGE_DELAY_MS * 5 * tries };
}

function schedule(window: Window, delayMs: number): void {
  if (window.timer) return;
  // Outside the request that scheduled it: the merge runs after that request's storage deadline.
  window.timer = outsideStorageDeadline(() => setTimeout(() => merge(window), delayMs));
  // A pending merge never keeps a process alive on its own.
  window.timer.unref();
}

/** What a window has pending once one more refusal is counted into it (the merge tries so far kept). */
export function withRefusal(pending: Pending | undefined, event: AuditEvent): Pending {
  const one: RefusalCount = { count: 1, tally: { [tallyKey(event)]: 1 }, first: event.at, last: event.at };
  return { counts: pending ? sumRefusals(pending.counts, one) : one, latest: event, tries: pending?.tries ?? 0 };
}

function count(window: Window, event: AuditEvent): void {
  window.pending = withRefusal(window.pending, event);
  schedule(window, SUMMARY_MERGE_DELAY_MS);
}

/** Forgets the least recently refused callers beyond MAX_WINDOWS, merging what they still count. */
function forgetOldest(): void {
  for (const [key, window] of windows) {
    if (windows.size <= MAX_WINDOWS) return;
    merge(window);
    windows.delete(key);
  }
}

/** The window of `event`'s caller and minute, made the most recently refused. */
function windowOf(event: AuditEvent): Window {
  const { caller, minute } = refusalWindowOf(event);
  const key = `${caller}\n${minute}`;
  const window = windows.get(key) ?? { caller, minute, recorded: 0 };
  // Re-inserted: the map stays in least-recently-refused order for forgetOldest.
  windows.delete(key);
  windows.set(key, window);
  forgetOldest();
  return window;
}

/**
 * Whether the caller of `event` may have a success record written ahead of its work (shared/audit/scope.ts
 * recordAhead): only while its refusals this minute are still recorded one by one, since a refusal of
 * that work replaces the record with its own, one by one, whatever the budget.
 */
export function mayRecordAhead(event: AuditEvent): boolean {
  const { caller, minute } = refusalWindowOf(event);
  return (windows.get(`${caller}\n${minute}`)?.recorded ?? 0) < REFUSALS_RECORDED_PER_MINUTE;
}

/** Counts a refusal recorded one by one outside recordWithinBudget (one that replaced a record written ahead). */
export function countRecorded(event: AuditEvent): void {
  windowOf(event).recorded += 1;
}

/**
 * Records a refusal (an audited operation that failed): one by one up to REFUSALS_RECORDED_PER_MINUTE
 * per caller and minute, awaited, so the record exists before the error goes out; beyond, counted into
 * the minute's summary without waiting for storage. Throws the audit trail's 503 if a record written
 * one by one cannot be written.
 */
export async function recordWithinBudget(event: AuditEvent): Promise<void> {
  const window = windowOf(event);
  if (window.recorded < REFUSALS_RECORDED_PER_MINUTE) {
    window.recorded += 1;
    await writeAuditEntry(event);
    return;
  }
  count(window, event);
}

/** Merges every counted refusal now and waits for all merges under way (tests; a host shutting down). */
export async function flushRefusalSummaries(): Promise<void> {
  for (const window of windows.values()) if (window.pending) merge(window);
  while (merging.size > 0) await Promise.allSettled([...merging]);
}
