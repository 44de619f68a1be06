import { encodeSkipToken } from './skipToken';

/**
 * Graph's `@odata.nextLink` for the page after this one: the request's own URL (origin, version
 * prefix, every option) with `$skiptoken` set to the storage continuation, checked against the
 * query fingerprint it was issued for (skipToken.ts). Undefined on the last page.
 */
export function nextLinkOf(requestUrl: string, fingerprint: string, continuation: string | undefined): string | undefined {
  if (continuation === undefined) return undefined;
  const next = new URL(requestUrl);
  next.searchParams.set('$skiptoken', encodeSkipToken({ query: fingerprint, continuation }));
  return next.toString();
}
