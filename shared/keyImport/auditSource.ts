import { randomUUID } from 'node:crypto';
import type { Caller } from '../auth/caller';
import { localAccount } from '../audit/commandRun';
import type { AuditSource, ImportOrigin } from '../audit/model';
import { CLIENT_NAME, CLIENT_VERSION } from '../graph/policies';

// Who the adoption tools are in the audit trail. One correlation id per run ties its records together.

/**
 * The audit source of one run of an adoption tool. `caller` is the identity the tool acted as (the
 * mirror's managed identity, from its Graph token); without one (a file import run by hand), the
 * local account that ran it is named in the User-Agent.
 */
export function adoptionSource(origin: ImportOrigin, tool: string, caller?: Caller): AuditSource {
  const account = caller ? undefined : localAccount();
  return {
    caller: caller ?? { permissions: new Set(), delegated: false },
    requestId: randomUUID(),
    userAgent: `${CLIENT_NAME}-${tool}/${CLIENT_VERSION}${account ? ` (${account})` : ''}`,
    clientName: `${CLIENT_NAME} ${tool}`,
    clientVersion: CLIENT_VERSION,
    importedFrom: origin,
  };
}
