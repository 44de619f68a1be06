// A leaf: imports nothing of the project. The URL parser, the $filter parsers, the body schema and
// the audit scope all read GUIDs the same way through this one function.

const GUID_BRACED = /^\{([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}$/i;
const GUID_PLAIN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * A GUID in any case, with or without braces (`{...}`, as Windows and the BitLocker tools write key
 * protector IDs), as lowercase without braces; undefined if it is not one. Only the 8-4-4-4-12 hex
 * form with hyphens, and no version or variant check (Graph's example key ID,
 * b465e4e8-e4e8-b465-e8e4-65b4e8e465b4, has neither).
 */
/** Whether `value` is a GUID in the plain 8-4-4-4-12 hex form, in any case, without braces (settings, certificate subjects). */
export const isGuid = (value: string): boolean => GUID_PLAIN.test(value);

export function normalizeGuid(value: string): string | undefined {
  const match = GUID_PLAIN.exec(value) ?? GUID_BRACED.exec(value);
  return match?.[1]!.toLowerCase();
}
