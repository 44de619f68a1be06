import { encodeSkipToken } from './skipToken';

/**
 * Graph's `@odata.nextLink` for the page after this one: the request's public URL (PUBLIC_BASE_URL or
 * the request's origin, then its path and every option; http/requestContext.ts publicUrlOf) with
 * `$skiptoken` set to the storage continuation, checked against the query fingerprint it was issued
 * for (skipToken.ts). A bare `skiptoken` (read as `$skiptoken` on /beta) is dropped, so the link never
 * carries the option twice. Undefined on the last page.
 */
export function nextLinkOf(publicUrl: URL, fingerprint: string, continuation: string | undefined): string | undefined {
  if (continuation === undefined) return undefined;
  const next = new URL(publicUrl.toString());
  next.searchParams.delete('skiptoken');
  next.searchParams.set('$skiptoken', encodeSkipToken({ query: fingerprint, continuation }));
  return next.toString();
}
