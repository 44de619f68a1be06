import type { GraphClient } from '../graph/client';
import { GraphCallFailed } from '../graph/errors';
import { getPage } from '../graph/paging';
import type { RecoveryKey, RecoveryKeyInput } from '../recoveryKeys/model';
import { requireComplete } from '../recoveryKeys/schema';

// Entra ID's own copies of BitLocker recovery keys, in Microsoft Graph
// (https://learn.microsoft.com/graph/api/resources/bitlockerrecoverykey): the collection lists metadata
// only (id, createdDateTime, volumeType, deviceId); the password comes from a read of one key with
// $select=key, which needs BitLockerKey.Read.All and which Entra audits as "Read BitLocker key".

export const RECOVERY_KEYS_PATH = '/v1.0/informationProtection/bitlocker/recoveryKeys';

/** A key as the collection lists it: metadata only. */
export interface ListedKey {
  /** Lower-case. */
  id: string;
  deviceId?: unknown;
  volumeType?: unknown;
  createdDateTime?: unknown;
}

export interface EntraKeyPage {
  /** Keys of the page; entries without a string id are left out (counted in `malformed`). */
  keys: ListedKey[];
  malformed: number;
  nextPath?: string;
}

/** One page of Entra's key collection at `path` (RECOVERY_KEYS_PATH, or a previous page's nextPath). */
export async function listEntraKeys(graph: GraphClient, path: string): Promise<EntraKeyPage> {
  const page = await getPage(graph, path);
  const keys = page.value.flatMap((item): ListedKey[] => {
    const { id, deviceId, volumeType, createdDateTime } = (item ?? {}) as Record<string, unknown>;
    return typeof id === 'string' ? [{ id: id.toLowerCase(), deviceId, volumeType, createdDateTime }] : [];
  });
  return { keys, malformed: page.value.length - keys.length, nextPath: page.nextPath };
}

/**
 * One listed key with its password, checked by the recoveryKeys schema (the same rules as a PATCH: a GUID id,
 * a valid 48-digit password, a known volume type). Undefined if Entra no longer has it (404).
 * Throws GraphCallFailed (no answer, throttled, refused), or the schema's 400 GraphError for a key
 * Graph returned in a shape we do not accept (whose message never holds the key).
 */
export async function readEntraKey(graph: GraphClient, listed: ListedKey): Promise<RecoveryKey | undefined> {
  let body: unknown;
  try {
    body = await graph.getJson(`${RECOVERY_KEYS_PATH}/${encodeURIComponent(listed.id)}?$select=key`);
  } catch (error) {
    if (error instanceof GraphCallFailed && error.status === 404) return undefined;
    throw error;
  }
  const read = (body ?? {}) as Record<string, unknown>;
  // Graph's documented answer to $select=key carries the metadata too; the listing's is the fallback.
  const pick = (name: 'deviceId' | 'volumeType' | 'createdDateTime'): unknown => read[name] ?? listed[name];
  const candidate = {
    id: listed.id,
    deviceId: pick('deviceId'),
    volumeType: pick('volumeType'),
    createdDateTime: pick('createdDateTime'),
    key: read.key,
  };
  return requireComplete(candidate as RecoveryKeyInput);
}
