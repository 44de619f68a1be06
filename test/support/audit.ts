import { randomUUID } from 'node:crypto';
import type { ApiResponse } from './client';
import { followPages } from './keys';

// Helpers for the audit trail (GET /auditLogs/directoryAudits) and for "no secret anywhere" checks.

export const AUDIT_READ = 'AuditLog.Read.All';

export const DIRECTORY_AUDITS = '/v1.0/auditLogs/directoryAudits';

/** Graph's directoryAudit, as the service returns it. */
export interface DirectoryAudit {
  id: string;
  category: string;
  correlationId: string;
  result: 'success' | 'failure';
  resultReason: string;
  activityDisplayName: string;
  activityDateTime: string;
  loggedByService: string;
  operationType: string;
  initiatedBy: {
    user: { id: string | null; userPrincipalName: string | null } | null;
    app: { appId: string; displayName: string | null; servicePrincipalId: string | null } | null;
  };
  targetResources: { id: string; displayName: string; type: string }[];
  additionalDetails: { key: string; value: string }[];
}

/** The $filter condition that isolates one key's events. */
export const targetFilter = (keyId: string): string => `targetResources/any(t:t/id eq '${keyId}')`;

/** A directoryAudits path with the given query options, encoded as a client would send them. */
export function auditsPath(options: Record<string, string> = {}): string {
  const query = new URLSearchParams(options).toString();
  return query ? `${DIRECTORY_AUDITS}?${query}` : DIRECTORY_AUDITS;
}

export interface AuditTraversal {
  pages: ApiResponse[];
  /** Every event of every page, in order, duplicates kept. */
  events: DirectoryAudit[];
}

/** Reads the first page and follows @odata.nextLink to the end; every page must be a 200. */
export async function readAllAudits(firstPath: string, token: string, maxPages = 200): Promise<AuditTraversal> {
  const pages = await followPages(firstPath, token, maxPages);
  return { pages, events: pages.flatMap((page) => page.json.value as DirectoryAudit[]) };
}

/** Every event about one key, newest first, with an optional extra condition joined by 'and'. */
export async function auditsOf(keyId: string, token: string, extra?: string): Promise<DirectoryAudit[]> {
  const filter = extra ? `${targetFilter(keyId)} and ${extra}` : targetFilter(keyId);
  return (await readAllAudits(auditsPath({ $filter: filter }), token)).events;
}

/** A detail of an event's additionalDetails, or undefined. */
export const detailOf = (event: DirectoryAudit, key: string): string | undefined =>
  event.additionalDetails.find((d) => d.key === key)?.value;

// ---- secrets -------------------------------------------------------------------------------------------------

/** The spellings of a recovery password that must never show up: as written, without dashes, with spaces. */
export const keySpellings = (key: string): string[] => [key, key.replace(/-/g, ''), key.replace(/-/g, ' ')];

/** What of a JWT must never show up: the whole token and its signature (and its payload, which names the caller's grants). */
export function tokenParts(token: string): string[] {
  const [, payload, signature] = token.split('.');
  return [token, ...(payload ? [payload] : []), ...(signature ? [signature] : [])];
}

/** The secrets among `needles` that occur in `haystack` (an empty list is the good answer). */
export const secretsIn = (haystack: string, needles: readonly string[]): string[] =>
  needles.filter((n) => n !== '' && haystack.includes(n));

/** A fresh object id, so that each test's tokens are their own caller (own rate-limit bucket, own initiatedBy). */
export const newOid = (): string => randomUUID();
