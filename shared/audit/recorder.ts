import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../auth/caller';
import { GraphError } from '../http/graphError';
import { headerText } from '../http/headerText';
import type { RequestContext } from '../http/requestContext';
import type { Activity, AuditEvent, AuditSource } from './model';
import { writeAuditEntry } from './store';

export function auditSourceOf(request: HttpRequest, rc: RequestContext, caller: Caller): AuditSource {
  return {
    caller,
    requestId: rc.requestId,
    userAgent: headerText(request, 'user-agent'),
    clientName: headerText(request, 'ocp-client-name'),
    clientVersion: headerText(request, 'ocp-client-version'),
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
 * Records a refused or failed operation before its error goes out, and hands that error back. If the
 * record cannot be written, the answer is the audit trail's 503 instead.
 */
export async function auditFailure(source: AuditSource, activity: Activity, error: unknown, target: AuditTarget = {}): Promise<unknown> {
  // Storage unavailable or throttling: the trail lives in that same storage, so trying to write there
  // would only double the client's wait for the same 503. Such failures are in the log with their request-id.
  if (error instanceof GraphError && error.status === 503) return error;
  // An unexpected error's message stays out of the record, as it stays out of the response.
  const reason = error instanceof GraphError ? `${error.status} ${error.code}: ${error.message}` : '500 generalException';
  await writeAuditEntry(auditEvent(source, activity, 'failure', reason, target));
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
