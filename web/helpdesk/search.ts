/** What a search box's text asks for. */
export type Search =
  | { kind: 'keyPrefix'; prefix: string }
  /** A whole GUID: a device's id or a key's, which look the same. */
  | { kind: 'guid'; id: string }
  | { kind: 'invalid'; problem: string };

/** The fewest characters of a key ID the recovery screen shows, and MBAM asks for. */
export const MIN_PREFIX = 8;

const GUID_DASHES = [8, 12, 16, 20];

/**
 * Reads a key ID prefix or a GUID as a user reads it out: braces, spaces, dashes and case do not
 * matter; the dashes are put back where a GUID has them, since the service's prefix search is on the
 * GUID's written form.
 */
export function parseSearch(text: string): Search {
  const hex = text.replace(/[{}\s-]/g, '').toLowerCase();
  if (hex === '') return { kind: 'invalid', problem: `Type at least the first ${MIN_PREFIX} characters of the key ID, or a device ID.` };
  if (!/^[0-9a-f]+$/.test(hex))
    return { kind: 'invalid', problem: 'Key and device IDs hold only the digits 0 to 9 and the letters A to F.' };
  if (hex.length < MIN_PREFIX)
    return {
      kind: 'invalid',
      problem: `Type at least ${MIN_PREFIX} characters of the key ID; ${hex.length} is too few to tell keys apart.`,
    };
  if (hex.length > 32) return { kind: 'invalid', problem: `That is ${hex.length} characters; an ID has 32 (without dashes).` };
  const pieces = [0, ...GUID_DASHES].map((start, i) => hex.slice(start, [...GUID_DASHES, 32][i])).filter(Boolean);
  const written = pieces.join('-');
  return hex.length === 32 ? { kind: 'guid', id: written } : { kind: 'keyPrefix', prefix: written };
}
