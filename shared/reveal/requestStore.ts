import { odata, type TableEntityResult } from '@azure/data-tables';
import { TABLES } from '../storage/layout';
import { isStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import type { Person, RevealRequest } from './model';

// Layout:
//   RevealRequests  PartitionKey = tenant id, RowKey = request id (random)
// A request is only ever looked up under its caller's tenant: an id of another tenant is not found,
// whoever asks. A decision replaces the row if it is still at the ETag it was read at, so of two
// concurrent approvals one wins and the other finds it decided.

const SUBJECT = 'The reveal request';

interface RequestEntity {
  keyId: string;
  deviceId: string;
  requestedById: string;
  requestedByUpn?: string;
  requesterKey: string;
  reason: string;
  ticket?: string;
  status: string;
  createdDateTime: string;
  decidedById?: string;
  decidedByUpn?: string;
  decidedDateTime?: string;
  expirationDateTime: string;
}

const requests = () => tableClient(TABLES.revealRequests);

const person = (id: string | undefined, upn: string | undefined): Person | undefined =>
  id === undefined ? undefined : { id, ...(upn !== undefined && { userPrincipalName: upn }) };

function fromEntity(entity: TableEntityResult<RequestEntity>): RevealRequest {
  return {
    id: entity.rowKey!,
    tenantId: entity.partitionKey!,
    keyId: entity.keyId,
    deviceId: entity.deviceId,
    requestedBy: person(entity.requestedById, entity.requestedByUpn)!,
    requesterKey: entity.requesterKey,
    reason: entity.reason,
    ...(entity.ticket !== undefined && { ticket: entity.ticket }),
    status: entity.status === 'approved' || entity.status === 'denied' ? entity.status : 'pending',
    createdDateTime: entity.createdDateTime,
    ...(entity.decidedById !== undefined && { decidedBy: person(entity.decidedById, entity.decidedByUpn) }),
    ...(entity.decidedDateTime !== undefined && { decidedDateTime: entity.decidedDateTime }),
    expirationDateTime: entity.expirationDateTime,
    etag: entity.etag,
  };
}

function toEntity(request: RevealRequest) {
  return {
    partitionKey: request.tenantId,
    rowKey: request.id,
    keyId: request.keyId,
    deviceId: request.deviceId,
    requestedById: request.requestedBy.id,
    requestedByUpn: request.requestedBy.userPrincipalName,
    requesterKey: request.requesterKey,
    reason: request.reason,
    ticket: request.ticket,
    status: request.status,
    createdDateTime: request.createdDateTime,
    decidedById: request.decidedBy?.id,
    decidedByUpn: request.decidedBy?.userPrincipalName,
    decidedDateTime: request.decidedDateTime,
    expirationDateTime: request.expirationDateTime,
  };
}

export async function insertRequest(request: Omit<RevealRequest, 'etag'>): Promise<RevealRequest> {
  const response = await storageCall(async () => (await requests()).createEntity(toEntity({ ...request, etag: '' })), SUBJECT);
  return { ...request, etag: response.etag ?? '' };
}

/** The request `id` of `tenantId`, or undefined. */
export async function readRequest(tenantId: string, id: string): Promise<RevealRequest | undefined> {
  try {
    return fromEntity(await storageCall(async () => (await requests()).getEntity<RequestEntity>(tenantId, id), SUBJECT));
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw error;
  }
}

/** Replaces `request` if it is still at its ETag; a StorageError versionMoved otherwise. */
export async function replaceRequest(request: RevealRequest): Promise<RevealRequest> {
  const response = await storageCall(
    async () => (await requests()).updateEntity(toEntity(request), 'Replace', { etag: request.etag }),
    SUBJECT,
  );
  return { ...request, etag: response.etag ?? '' };
}

/** A tenant's requests matching the optional conditions, newest first, at most `max`. */
export async function queryRequests(
  tenantId: string,
  where: { status?: string; requesterKey?: string; keyId?: string },
  max: number,
): Promise<RevealRequest[]> {
  let filter = odata`PartitionKey eq ${tenantId}`;
  if (where.status !== undefined) filter += odata` and status eq ${where.status}`;
  if (where.requesterKey !== undefined) filter += odata` and requesterKey eq ${where.requesterKey}`;
  if (where.keyId !== undefined) filter += odata` and keyId eq ${where.keyId}`;
  const found: RevealRequest[] = [];
  await storageCall(async () => {
    for await (const entity of (await requests()).listEntities<RequestEntity>({ queryOptions: { filter } })) {
      found.push(fromEntity(entity));
      if (found.length >= max) break;
    }
  }, SUBJECT);
  return found.sort((a, b) => b.createdDateTime.localeCompare(a.createdDateTime));
}
