import type { ModifiedProperty } from '../audit/model';
import type { KeyMetadata } from './model';

// What a write changed, for its audit record (Graph's targetResources[].modifiedProperties). Only
// metadata is compared: the recovery password never changes under its key id, so it is never listed,
// and its value never reaches a record.

/** The properties a write can set, in the order a record lists them. */
const TRACKED = ['deviceId', 'volumeType', 'createdDateTime'] as const satisfies readonly (keyof KeyMetadata)[];

/**
 * The properties that differ between `before` and `after`, old and new values as JSON text (Entra ID's
 * form). Without `before` (an add), every tracked property with a null `oldValue`. An empty list: nothing changed.
 */
export function modifiedProperties(before: KeyMetadata | undefined, after: KeyMetadata): ModifiedProperty[] {
  return TRACKED.filter((name) => before?.[name] !== after[name]).map((name) => ({
    displayName: name,
    oldValue: before ? JSON.stringify(before[name]) : null,
    newValue: JSON.stringify(after[name]),
  }));
}
