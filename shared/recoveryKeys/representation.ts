import type { RequestContext } from '../http/requestContext';
import type { JsonObject } from '../http/responses';
import { writeDateTimeOffset } from '../odata/dateTimeOffset';
import type { KeyMetadata, StoredRecoveryKey } from './model';
import { ODATA_TYPE, ROTATION_ANNOTATIONS as ANNOTATIONS } from './schema';

export const COLLECTION_CONTEXT = 'informationProtection/bitlocker/recoveryKeys';

export type KeyProperty = 'id' | 'createdDateTime' | 'volumeType' | 'deviceId' | 'key';

const METADATA_PROPERTIES: readonly KeyProperty[] = ['id', 'createdDateTime', 'volumeType', 'deviceId'];

/**
 * Who is shown who revealed a key: a caller holding a BitLocker role. A device, and a self-service owner
 * reading their own key, see only that it was disclosed: who helped them is not theirs to learn.
 */
export type Audience = 'reader' | 'device' | 'owner';

/** The annotations of a key's rotation (OData JSON 4.01 section 18: clients that do not know them ignore them). */
function rotationAnnotations(key: KeyMetadata, audience: Audience): JsonObject {
  const json: JsonObject = {};
  if (key.disclosedDateTime !== undefined) {
    json[ANNOTATIONS.disclosedDateTime] = writeDateTimeOffset(key.disclosedDateTime);
    if (audience === 'reader' && key.disclosedBy !== undefined) json[ANNOTATIONS.disclosedBy] = key.disclosedBy;
  }
  if (key.supersededBy !== undefined) {
    json[ANNOTATIONS.supersededBy] = key.supersededBy;
    if (key.supersededDateTime !== undefined) json[ANNOTATIONS.supersededDateTime] = writeDateTimeOffset(key.supersededDateTime);
  }
  return json;
}

/**
 * The Graph JSON of one key: metadata always, `key` (the plain-text password) only where the operation says
 * so and supplies it; its rotation's annotations whatever `$select` chose (annotations are not properties).
 */
export function graphProperties(
  key: KeyMetadata,
  properties: readonly KeyProperty[],
  password?: string,
  audience: Audience = 'reader',
): JsonObject {
  const json: JsonObject = { '@odata.type': ODATA_TYPE, ...rotationAnnotations(key, audience) };
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
  audience: Audience = 'reader',
): JsonObject {
  return {
    '@odata.context': contextUrl(requestContext, select, true),
    '@odata.etag': key.etag,
    ...graphProperties(key, select ?? propertiesFor(password !== undefined), password, audience),
  };
}

/** Where directory/deletedItems lists deleted keys, as Graph names a cast of its deleted items. */
export const DELETED_COLLECTION_CONTEXT = 'directory/deletedItems/microsoft.graph.bitlockerRecoveryKey';

/** The properties of a deleted key as directory/deletedItems shows it, in order. */
export const DELETED_PROPERTIES: readonly string[] = [...METADATA_PROPERTIES, 'deletedDateTime'];

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
