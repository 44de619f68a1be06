import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import { GraphError } from '../http/graphError';
import type { RequestContext } from '../http/requestContext';
import type { Activity, AuditEvent, AuditSource } from './model';
import { REVEAL_REASON_HEADER, REVEAL_TICKET_HEADER } from '../recoveryKeys/revealReasonCodes';
import { recordRefusal } from './refusals';

export function auditSourceOf(request: HttpRequest, rc: RequestContext, caller: Caller): AuditSource {
  return {
    caller,
    requestId: rc.requestId,
    userAgent: request.headers.get('user-agent') ?? undefined,
    clientName: request.headers.get('ocp-client-name') ?? undefined,
    clientVersion: request.headers.get('ocp-client-version') ?? undefined,
    // Recorded as sent, valid or not (bounded and escaped on the way into the record): a refused read shows what it claimed.
    revealReason: request.headers.get(REVEAL_REASON_HEADER) ?? undefined,
    revealTicket: request.headers.get(REVEAL_TICKET_HEADER) ?? undefined,
  };
}

export interface AuditTarget {
  keyId?: string;
  deviceId?: string;
}

export function auditEvent(
  source: AuditSource,
  activity: Activity,
  result: AuditEvent['result'],
  resultReason: string,
  target: AuditTarget = {},
): AuditEvent {
  return { id: randomUUID(), at: new Date(), source, activity, result, resultReason, ...target };
}

/**
 * Records a refused or failed operation before its error goes out (or, beyond a caller's
 * REFUSALS_RECORDED_PER_MINUTE, counts it into the minute's summary: shared/audit/refusals.ts), and
 * hands that error back. If the record cannot be written, the answer is the audit trail's 503 instead.
 */
export async function auditFailure(source: AuditSource, activity: Activity, error: unknown, target: AuditTarget = {}): Promise<unknown> {
  // Storage unavailable or throttling: the trail lives in that same storage, so trying to write there
  // would only double the client's wait for the same 503. Such failures are in the log with their request-id.
  if (error instanceof GraphError && error.status === 503) return error;
  // An unexpected error's message stays out of the record, as it stays out of the response.
  const reason = error instanceof GraphError ? `${error.status} ${error.code}: ${error.message}` : '500 generalException';
  await recordRefusal(auditEvent(source, activity, 'failure', reason, target));
  return error;
}

/** Runs an audited operation: a refusal or failure is recorded before its error goes out (successes are recorded by the operation itself). */
export async function runAudited<T>(source: AuditSource, activity: Activity, target: AuditTarget, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw await auditFailure(source, activity, error, target);
  }
}
