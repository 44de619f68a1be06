import { randomUUID } from 'node:crypto';
import { type ApiResponse, baseUrl, callOn } from './client';
import { type KeyBody, keyBody } from './fixtures';

// Helpers for tests that need many keys or whole result sets: escrowing over HTTP with bounded
// concurrency, following @odata.nextLink to the end, ids that share a prefix.

export const COLLECTION = '/v1.0/informationProtection/bitlocker/recoveryKeys';

/** The path of the key `id` in COLLECTION. */
export const item = (id: string): string => `${COLLECTION}/${id}`;

/** `$select` of every property, the key included: a key read that answers the whole object (a bare `$select=key` answers only the key). */
export const WHOLE_KEY = '$select=id,createdDateTime,deviceId,volumeType,key';

/** Runs `task` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A random lowercase key id that starts with `prefix` (hex, at most 8 characters so the GUID's shape holds). */
export function idWithPrefix(prefix: string): string {
  if (!/^[0-9a-f]{1,8}$/.test(prefix)) throw new Error(`idWithPrefix takes 1 to 8 lowercase hex digits, not '${prefix}'`);
  return prefix + randomUUID().slice(prefix.length);
}

/** A random lowercase hex string of `length` characters. */
export const randomHex = (length: number): string => randomUUID().replace(/-/g, '').slice(0, length);

/**
 * Escrows each body with PATCH over HTTP, `concurrency` at a time; fails loudly on anything but 200.
 * `base` is the run's host unless given.
 */
export async function escrowKeys(token: string, bodies: readonly KeyBody[], concurrency = 8, base = baseUrl()): Promise<KeyBody[]> {
  await mapLimit(bodies, concurrency, async (body) => {
    const response = await callOn(base, 'PATCH', '/bitlocker/recoveryKeys', { token, body });
    if (response.status !== 200) throw new Error(`escrowing ${body.id} gave ${response.status}: ${response.text}`);
  });
  return [...bodies];
}

/** `count` fresh key bodies, each with `overrides` applied (and its own id unless one is given by `idOf`). */
export function keyBodies(count: number, overrides: KeyBody = {}, idOf?: (index: number) => string): KeyBody[] {
  return Array.from({ length: count }, (_, i) => keyBody({ ...overrides, ...(idOf && { id: idOf(i) }) }));
}

/** A list path with the given query options, encoded as a client would send them. */
export function listPath(options: Record<string, string>, collection = COLLECTION): string {
  const query = new URLSearchParams(options).toString();
  return query ? `${collection}?${query}` : collection;
}

export interface Traversal {
  pages: ApiResponse[];
  /** Every id of every page, in order, duplicates kept (so that a test can see them). */
  ids: string[];
  /** The @odata.nextLink of every page but the last. */
  nextLinks: string[];
}

/**
 * Reads the first page and follows @odata.nextLink until a page has none. Every page must be a 200;
 * more than `maxPages` pages is a failure (a list that never ends), not a hang. `base` is the run's host unless given.
 */
export async function followPages(firstPath: string, token: string, maxPages: number, base = baseUrl()): Promise<ApiResponse[]> {
  const pages: ApiResponse[] = [];
  let path: string | undefined = firstPath;
  while (path !== undefined) {
    if (pages.length >= maxPages) throw new Error(`more than ${maxPages} pages from ${firstPath}: the list does not end`);
    const page = await callOn(base, 'GET', path, { token });
    if (page.status !== 200) throw new Error(`GET ${path} gave ${page.status}: ${page.text}`);
    pages.push(page);
    path = page.json['@odata.nextLink'];
  }
  return pages;
}

export async function readAllPages(firstPath: string, token: string, maxPages = 100, base = baseUrl()): Promise<Traversal> {
  const pages = await followPages(firstPath, token, maxPages, base);
  return {
    pages,
    ids: pages.flatMap((page) => (page.json.value as { id: string }[]).map((item) => item.id)),
    nextLinks: pages.slice(0, -1).map((page) => page.json['@odata.nextLink']),
  };
}

export const sorted = (ids: Iterable<string>): string[] => [...ids].sort();
