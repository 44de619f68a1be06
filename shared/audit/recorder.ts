import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import { asGraphError } from '../errors/asGraphError';
import { GraphError } from '../errors/graphError';
import { headerText } from '../http/headerText';
import type { RequestContext } from '../http/requestContext';
import type { Activity, AuditEvent, AuditSource, ModifiedProperty } from './model';
import { REVEAL_REASON_HEADER, REVEAL_TICKET_HEADER } from '../recoveryKeys/revealReasonCodes';
import { recordRefusal } from './refusals';

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

/** The key an event is about (Graph's targetResources[0]) and, for a write, what it changed there. */
export interface AuditTarget {
  keyId?: string;
  deviceId?: string;
  modifiedProperties?: ModifiedProperty[];
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
  const answer = asGraphError(error);
  if (answer instanceof GraphError && answer.status === 503) return error;
  // An unexpected error's message stays out of the record, as it stays out of the response.
  const reason = answer instanceof GraphError ? `${answer.status} ${answer.code}: ${answer.message}` : '500 generalException';
  await recordRefusal(auditEvent(source, activity, 'failure', reason, target));
  return error;
}
