import type { RequestContext } from '../http/requestContext';
import type { JsonObject } from '../http/responses';
import { writeDateTimeOffset } from '../odata/dateTimeOffset';
import type { KeyMetadata, StoredRecoveryKey } from './model';
import { ODATA_TYPE } from './schema';

export const COLLECTION_CONTEXT = 'informationProtection/bitlocker/recoveryKeys';

export type KeyProperty = 'id' | 'createdDateTime' | 'volumeType' | 'deviceId' | 'key';

const METADATA_PROPERTIES: readonly KeyProperty[] = ['id', 'createdDateTime', 'volumeType', 'deviceId'];

/** The Graph JSON of one key: metadata always, `key` (the plain-text password) only where the operation says so and supplies it. */
export function graphProperties(key: KeyMetadata, properties: readonly KeyProperty[], password?: string): JsonObject {
  const json: JsonObject = { '@odata.type': ODATA_TYPE };
  for (const property of properties) {
    if (property === 'key') json.key = password;
    else json[property] = property === 'createdDateTime' ? writeDateTimeOffset(key.createdDateTime) : key[property];
  }
  return json;
}

export function propertiesFor(includeKey: boolean): readonly KeyProperty[] {
  return includeKey ? [...METADATA_PROPERTIES, 'key'] : METADATA_PROPERTIES;
}

/**
 * `@odata.context` of the collection or (with `entity`) of one key, with the `$select` list when there is one:
 * `{root}/$metadata#informationProtection/bitlocker/recoveryKeys(id,deviceId)/$entity`, as OData 4.01 part 1
 * section 10 and Graph write it.
 */
export function contextUrl(requestContext: RequestContext, select: readonly KeyProperty[] | undefined, entity: boolean): string {
  return `${requestContext.serviceRoot}/$metadata#${COLLECTION_CONTEXT}${select ? `(${select.join(',')})` : ''}${entity ? '/$entity' : ''}`;
}

/**
 * A single key as a top-level Graph entity with its context and ETag: the properties in `select` when the
 * request had a `$select`, else all but `key` (and `key` too when a password is given).
 */
export function graphEntity(
  requestContext: RequestContext,
  key: StoredRecoveryKey,
  password?: string,
  select?: readonly KeyProperty[],
): JsonObject {
  return {
    '@odata.context': contextUrl(requestContext, select, true),
    '@odata.etag': key.etag,
    ...graphProperties(key, select ?? propertiesFor(password !== undefined), password),
  };
}

/** Where directory/deletedItems lists deleted keys, as Graph names a cast of its deleted items. */
export const DELETED_COLLECTION_CONTEXT = 'directory/deletedItems/microsoft.graph.bitlockerRecoveryKey';

/** A deleted key as directory/deletedItems shows it: metadata and deletedDateTime, never the key. */
export function deletedProperties(key: KeyMetadata & { deletedDateTime: string }): JsonObject {
  return { ...graphProperties(key, METADATA_PROPERTIES), deletedDateTime: key.deletedDateTime };
}

/** One deleted key as a top-level Graph entity with its context and ETag. */
export function deletedEntity(requestContext: RequestContext, key: StoredRecoveryKey & { deletedDateTime: string }): JsonObject {
  return {
    '@odata.context': `${requestContext.serviceRoot}/$metadata#directory/deletedItems/$entity`,
    '@odata.etag': key.etag,
    ...deletedProperties(key),
  };
}
