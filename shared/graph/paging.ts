import type { GraphClient } from './client';
import { GraphCallFailed } from './errors';

// Graph collections come in pages: `value` and, while more follow, `@odata.nextLink`, an absolute URL
// to GET as is (https://learn.microsoft.com/graph/paging). A nextLink is followed only on the client's
// own base URL: the request carries our Graph token, which must never go to another host.

export interface GraphPage {
  value: unknown[];
  /** The next page's path and query on the client's base URL; absent on the last page. */
  nextPath?: string;
}

/** The path and query of `url` if it is on `baseUrl` (scheme, host, port and base path alike), else undefined. */
export function pathOnBase(url: string, baseUrl: string): string | undefined {
  return url.startsWith(`${baseUrl}/`) ? url.slice(baseUrl.length) : undefined;
}

/**
 * One page of a collection at `pathAndQuery`. Throws GraphCallFailed as GraphClient.getJson does, and
 * when the answer is not a collection or its nextLink leaves the base URL.
 */
export async function getPage(client: GraphClient, pathAndQuery: string): Promise<GraphPage> {
  const body = (await client.getJson(pathAndQuery)) as { value?: unknown; '@odata.nextLink'?: unknown } | null;
  if (!Array.isArray(body?.value)) throw new GraphCallFailed('Microsoft Graph answered without a collection.', 200);
  const nextLink = body['@odata.nextLink'];
  if (nextLink === undefined) return { value: body.value };
  const nextPath = typeof nextLink === 'string' ? pathOnBase(nextLink, client.baseUrl) : undefined;
  if (nextPath === undefined)
    throw new GraphCallFailed('Microsoft Graph answered with an @odata.nextLink outside GRAPH_BASE_URL; not followed.', 200);
  return { value: body.value, nextPath };
}
