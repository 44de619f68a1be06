import type { HttpRequest } from '@azure/functions';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as text, for anything that records it (audit records, logs). Node's HTTP
 * parser hands over each byte of a header value as one character (latin1), so UTF-8 text such as
 * `Büro-Helpdesk ✓` arrives as `BÃ¼ro-Helpdesk â\u009c\u0093`. Here bytes that are valid UTF-8 are read as
 * UTF-8; bytes that are not keep their value visibly, every byte 0x80-0xFF as `\xHH`, so nothing is
 * silently replaced. (HttpRequest's headers hold no character above
 * 0xFF, so the value is always bytes.) Length limits and control or bidi escaping are the recorder's business, after this.
 * Undefined when the header is absent.
 */
export function headerText(request: HttpRequest, name: string): string | undefined {
  const value = request.headers.get(name);
  if (value === null) return undefined;
  if (!/[\x80-\xff]/.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value.replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  }
}
