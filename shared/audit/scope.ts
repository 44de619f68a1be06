import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import { asGraphError } from '../errors/asGraphError';
import { GraphError } from '../errors/graphError';
import { headerText } from '../http/headerText';
import type { RequestContext } from '../http/requestContext';
import { REVEAL_REASON_HEADER, REVEAL_TICKET_HEADER } from '../revealReasons';
import { normalizeGuid } from '../text/normalizeGuid';
import { outsideStorageDeadline } from '../storage/requestDeadline';
import { type Activity, type AuditEvent, type AuditSource, type AuditTarget, auditEvent } from './model';
import { countRecorded, mayRecordAhead, recordWithinBudget } from './refusalBudget';

// Refusals and failures are audited here and only here: an operation's scope records its error
// (recordFailure), and the refusal budget (refusalBudget.ts) decides whether that is a record of its own
// or a count in the caller's minute summary. Successes are recorded by the use case, with the write they
// belong to (shared/recoveryKeys/service.ts).

export function auditSourceOf(request: HttpRequest, requestContext: RequestContext, caller: Caller): AuditSource {
  return {
    caller,
    requestId: requestContext.requestId,
    userAgent: headerText(request, 'user-agent'),
    clientName: headerText(request, 'ocp-client-name'),
    clientVersion: headerText(request, 'ocp-client-version'),
    // Recorded as sent, valid or not (bounded and escaped on the way into the record): a refused read shows what it claimed.
    revealReason: headerText(request, REVEAL_REASON_HEADER),
    revealTicket: headerText(request, REVEAL_TICKET_HEADER),
  };
}

/**
 * A success record written ahead of the work it records, beside it rather than after it (a key read's,
 * while the key is read): AuditScope.recordAhead. Every later version of it keeps its id and time, and
 * so its rows: it is rewritten in place, never added to.
 */
export interface RecordedAhead {
  /** The record as written ahead. */
  readonly event: AuditEvent;
  /** Settles once the record is stored; the audit trail's 503 if it could not be. Awaited before the answer goes out. */
  readonly written: Promise<void>;
  /** `event` as a version of this record: its id and time. */
  pin(event: AuditEvent): AuditEvent;
  /**
   * Rewrites the record with what the work found (the key's device, what let the read through), once
   * the writes before it are done; not awaited (the record already stands for the read), best effort.
   */
  amend(event: AuditEvent): void;
}

interface Ahead {
  event: AuditEvent;
  write: (event: AuditEvent) => Promise<void>;
  /** The record's last write: a later one starts only after it, so that the newest version lands last. */
  last: Promise<void>;
}

/**
 * The audit scope of one operation on one key: who asks (`source`, what every event of the operation
 * records about the caller and the request), what they do (`activity`), and the key it is about. An
 * operation opens it once the caller is authenticated, names the key with `target` as soon as it knows
 * it, and passes every error of its work through `recordFailure` before throwing it, so that a refusal
 * or a failure is in the trail before its answer goes out. Unauthenticated requests (401) are never
 * audited: they carry no identity, and anyone could flood the trail with them; they are in the log.
 */
export class AuditScope {
  private about: AuditTarget;
  private ahead?: Ahead;

  constructor(
    readonly source: AuditSource,
    readonly activity: Activity,
    about: AuditTarget,
  ) {
    this.about = about;
  }

  /** Names the key (and its device) that a failure recorded from now on is about; given properties replace earlier ones. */
  target(about: AuditTarget): void {
    this.about = { ...this.about, ...about };
  }

  /**
   * Records `error` as this operation's refusal or failure before it goes out (or, beyond a caller's
   * REFUSALS_RECORDED_PER_MINUTE, counts it into the minute's summary) and returns it, to be thrown:
   * `throw await audit.recordFailure(error)`. If the record cannot be written, what comes back is the
   * audit trail's 503 instead.
   */
  async recordFailure(error: unknown): Promise<unknown> {
    if (this.ahead) return this.replaceAhead(error);
    // Storage unavailable or throttling: the trail lives in that same storage, so trying to write there
    // would only double the client's wait for the same 503. Such failures are in the log with their request-id.
    // A 503 the service decided on (a required alert not delivered) is a refusal like any other.
    const answer = asGraphError(error);
    if (isStorageFailure(answer)) return error;
    await recordWithinBudget(this.failureEvent(answer));
    return error;
  }

  private failureEvent(answer: unknown): AuditEvent {
    // An unexpected error's message stays out of the record, as it stays out of the response. A refusal
    // answered as if its key were absent is recorded as what it is.
    const refusal = answer instanceof GraphError ? (answer.auditedAs ?? answer) : undefined;
    const reason = refusal ? `${refusal.status} ${refusal.code}: ${refusal.message}` : '500 generalException';
    return auditEvent(this.source, this.activity, 'failure', reason, this.about);
  }

  /**
   * Writes `event`, this operation's success record, now, beside the work it records (which must not
   * depend on it), with `write`; the work's answer waits for `written`. From then on a failure of the
   * operation (any, storage's 503 included: the record is in the trail already) replaces the record,
   * so that the trail does not keep a success that did not happen. Undefined, nothing written, for a
   * caller beyond its refusal budget this minute: its refusals are counted, not recorded one by one,
   * and a record written ahead could only be replaced by one.
   */
  recordAhead(event: AuditEvent, write: (event: AuditEvent) => Promise<void>): RecordedAhead | undefined {
    if (this.ahead || !mayRecordAhead(event)) return undefined;
    const ahead: Ahead = { event, write, last: write(event) };
    this.ahead = ahead;
    // Handled here: the work may fail before it awaits the record, and the failure waits for it below.
    ahead.last.catch(() => undefined);
    const pin = (version: AuditEvent): AuditEvent => ({ ...version, id: event.id, at: event.at, keyId: event.keyId });
    return {
      event,
      written: ahead.last,
      pin,
      amend: (version) => {
        const pinned = pin(version);
        // On the next turn of the event loop: the answer that does not wait for it goes out first.
        const nextTurn = new Promise<void>((resolve) => setImmediate(resolve));
        ahead.last = outsideStorageDeadline(() => Promise.all([ahead.last, nextTurn]).then(() => write(pinned)));
        ahead.last.catch((failure: unknown) => notAmended(pinned, failure));
      },
    };
  }

  /**
   * A failure after a record written ahead: the record, once every write of it is done, replaced by the
   * failure's (its id, time and rows). If the record itself could not be written, the replacement follows
   * in the background (a record that timed out may still have been stored) and the answer does not wait
   * for it: storage's own failure goes out as it is (as recordFailure's: a record would only double the
   * wait), a refusal as the trail's 503 that the record ahead got (as recordFailure's when its record
   * cannot be written: no refusal goes out unrecorded).
   */
  private async replaceAhead(error: unknown): Promise<unknown> {
    const { event, write, last } = this.ahead!;
    const answer = asGraphError(error);
    const failure = { ...this.failureEvent(answer), id: event.id, at: event.at, keyId: event.keyId };
    countRecorded(failure);
    const notStored = await last.then(
      () => undefined,
      (failed: unknown) => failed ?? new Error('audit record not stored'),
    );
    const replaced = outsideStorageDeadline(() => last.catch(() => undefined).then(() => write(failure)));
    this.ahead!.last = replaced;
    if (notStored !== undefined) {
      replaced.catch((failed: unknown) => notAmended(failure, failed));
      return isStorageFailure(answer) ? error : notStored;
    }
    try {
      await replaced;
    } catch (failed) {
      notAmended(failure, failed);
      throw failed;
    }
    return error;
  }
}

/** Storage unavailable or throttling (a 503 the service did not decide on): the trail, in that storage, cannot take a record either. */
const isStorageFailure = (answer: unknown): boolean => answer instanceof GraphError && answer.status === 503 && !answer.decided;

/** A record written ahead that could not be brought up to date: the log names it, for whoever reconciles. */
function notAmended(event: AuditEvent, failure: unknown): void {
  console.warn(
    JSON.stringify({
      event: 'auditRecordNotAmended',
      auditEventId: event.id,
      keyId: event.keyId,
      requestId: event.source.requestId,
      result: event.result,
      reason: failure instanceof GraphError ? `${failure.status} ${failure.code}` : 'unexpected',
    }),
  );
}

/** Opens the audit scope of an authenticated caller's `activity`; the key is the route's `{id}` until the operation names another. */
export function openAudit(request: HttpRequest, requestContext: RequestContext, caller: Caller, activity: Activity): AuditScope {
  return new AuditScope(auditSourceOf(request, requestContext, caller), activity, { keyId: normalizeGuid(request.params.id ?? '') });
}
