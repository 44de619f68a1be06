import { jsonResponseObject } from '../headers';
import type { OperationSpec } from '../operation';
import { pathItem } from '../pathItem';
import { ref } from '../reference';
import { DIRECTORY_AUDIT_TAG } from '../tags';
import type { PathItemObject } from '../types';

// GET auditLogs/directoryAudits: the audit trail (functions/directoryAudits.ts).

const AUDIT_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listDirectoryAudits',
    summary: 'List directory audits',
    description: 'Every write, delete and key read of a recovery key, allowed or refused; newest first. Follow @odata.nextLink.',
    permission: 'readAudit',
    parameters: ['auditFilter', 'top', 'skipToken'],
    success: { 200: jsonResponseObject('A page of audit records.', ref('schemas', 'directoryAuditCollection')) },
  },
];

/** One path per directoryAudits route as registered. */
export const directoryAuditPaths = (auditRoutes: readonly string[]): [string, PathItemObject][] =>
  auditRoutes.map((route) => pathItem({ route, path: `/${route}`, tag: DIRECTORY_AUDIT_TAG }, AUDIT_OPERATIONS));
