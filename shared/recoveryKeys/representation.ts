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

/** A single key as a top-level Graph entity with its context and ETag. */
export function graphEntity(rc: RequestContext, key: StoredRecoveryKey, password?: string): JsonObject {
  return {
    '@odata.context': `${rc.serviceRoot}/$metadata#${COLLECTION_CONTEXT}/$entity`,
    '@odata.etag': key.etag,
    ...graphProperties(key, propertiesFor(password !== undefined), password),
  };
}
