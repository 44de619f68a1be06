import { withoutSecrets } from './redact';

// Text a client chose (a header, a reason, a message that repeats a property name) ends up in audit
// records that people read in consoles, terminals and spreadsheets. There it must not be able to hide
// or reorder what surrounds it (bidi overrides, line breaks, NUL), nor grow a record without bound.

/**
 * Characters written as `\uXXXX` instead of themselves: C0 and C1 controls and DEL; the Unicode
 * bidirectional formatting characters (UAX #9: U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069);
 * line and paragraph separators (U+2028, U+2029); zero-width space and no-break space (U+200B, U+FEFF);
 * and lone surrogates (not text at all). A backslash stays as it is, so that bounding is idempotent:
 * records are bounded as they are written and again as they are shown, and the second pass must not
 * escape the first one's escapes. (A client can thus write a literal `\u202e`; it shows as those six
 * characters, which hide nothing.)
 */
// eslint-disable-next-line no-control-regex -- matching the C0 and C1 controls is this pattern's purpose
const ESCAPED = /^(?:[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]|[\ud800-\udfff])$/;

const ELLIPSIS = '…';

/** One code point as it is written into a record. */
function written(character: string): string {
  return ESCAPED.test(character) ? `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}` : character;
}

/**
 * `value` as an audit record holds it: secrets masked (shared/redact.ts), then the characters above
 * escaped, then cut to at most `maxLength` UTF-16 units, ending in '…' when it was cut. A cut never
 * splits an escape or a surrogate pair. undefined stays undefined.
 */
export function clientText(value: string, maxLength: number): string;
export function clientText(value: string | undefined, maxLength: number): string | undefined;
export function clientText(value: string | undefined, maxLength: number): string | undefined {
  if (value === undefined) return undefined;
  // Iterating a string yields code points: a valid surrogate pair stays one piece, a lone half is escaped.
  const pieces = [...withoutSecrets(value)].map(written);
  if (pieces.reduce((length, piece) => length + piece.length, 0) <= maxLength) return pieces.join('');
  let out = '';
  for (const piece of pieces) {
    if (out.length + piece.length > maxLength - ELLIPSIS.length) break;
    out += piece;
  }
  return out + ELLIPSIS;
}
