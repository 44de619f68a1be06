import { odata, type TableEntityResult } from '@azure/data-tables';
import { TABLES } from '../storage/layout';
import { isStorageError } from '../storage/storageError';
import { storageCall } from '../storage/storageCall';
import { tableClient } from '../storage/tables';
import type { RevealGrant } from './model';

// Layout:
//   RevealGrants  PartitionKey = tenant id, RowKey = grant id (random)
// Grants are few (one per incident) and short-lived; a read finds the live ones of its tenant by their
// expirationDateTime, so expired rows cost nothing but space.

const SUBJECT = 'The reveal grant';

type GrantEntity = Omit<RevealGrant, 'id' | 'tenantId' | 'grantedBy' | 'ticket'> & {
  grantedById: string;
  grantedByUpn?: string;
  ticket?: string;
};

const grants = () => tableClient(TABLES.revealGrants);

function fromEntity(entity: TableEntityResult<GrantEntity>): RevealGrant {
  return {
    id: entity.rowKey!,
    tenantId: entity.partitionKey!,
    deviceGroupId: entity.deviceGroupId,
    granteeGroupId: entity.granteeGroupId,
    reason: entity.reason,
    ...(entity.ticket !== undefined && { ticket: entity.ticket }),
    grantedBy: { id: entity.grantedById, ...(entity.grantedByUpn !== undefined && { userPrincipalName: entity.grantedByUpn }) },
    createdDateTime: entity.createdDateTime,
    expirationDateTime: entity.expirationDateTime,
  };
}

export async function insertGrant(grant: RevealGrant): Promise<void> {
  const { id, tenantId, grantedBy, ...rest } = grant;
  await storageCall(
    async () =>
      (await grants()).createEntity({
        partitionKey: tenantId,
        rowKey: id,
        ...rest,
        grantedById: grantedBy.id,
        grantedByUpn: grantedBy.userPrincipalName,
      }),
    SUBJECT,
  );
}

export async function readGrant(tenantId: string, id: string): Promise<RevealGrant | undefined> {
  try {
    return fromEntity(await storageCall(async () => (await grants()).getEntity<GrantEntity>(tenantId, id), SUBJECT));
  } catch (error) {
    if (isStorageError(error, 'gone')) return undefined;
    throw error;
  }
}

/** The tenant's grants that have not expired at `now`. */
export async function liveGrants(tenantId: string, now: Date): Promise<RevealGrant[]> {
  const found: RevealGrant[] = [];
  await storageCall(async () => {
    const filter = odata`PartitionKey eq ${tenantId} and expirationDateTime gt ${now.toISOString()}`;
    for await (const entity of (await grants()).listEntities<GrantEntity>({ queryOptions: { filter } })) found.push(fromEntity(entity));
  }, SUBJECT);
  return found;
}
