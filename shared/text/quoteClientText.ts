import { withoutSecrets } from '../redact';

// A leaf but for the mask (itself a leaf), so that any layer (http, odata, the use cases) can quote a
// client's text in its own error messages without importing another layer.

/** How much of a client's text a message repeats: enough to recognise it, never a wall of it. */
const QUOTED_LENGTH = 40;

/**
 * `text` with every character outside printable ASCII (U+0020 to U+007E) written as `\uXXXX` (one
 * UTF-16 unit each), so that control characters, NULs, line breaks or bidi overrides never reach a
 * log or a UI. Not cut.
 */
export const escapeNonPrintableAscii = (text: string): string =>
  text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * A client's text (a query option, a property name, a header value) as an error message repeats it:
 * secrets masked (shared/redact.ts), then cut to its first 40 UTF-16 units followed by `...` when
 * longer, escaped as escapeNonPrintableAscii does, and in single quotes: `quoteClientText('deviceid')`
 * is `'deviceid'`. Masked before it is cut: a recovery password cut to 40 characters is no longer
 * recognisable as one, and would come back with about six of its eight groups.
 */
export function quoteClientText(text: string): string {
  const masked = withoutSecrets(text);
  const clipped = masked.length > QUOTED_LENGTH ? `${masked.slice(0, QUOTED_LENGTH)}...` : masked;
  return `'${escapeNonPrintableAscii(clipped)}'`;
}
