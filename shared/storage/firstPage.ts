import type { TableEntityResultPage } from '@azure/data-tables';

/**
 * The first page of a listing's `byPage()`, or undefined when there is none. (The iterator's own
 * `next().value` is typed `any`, as a finished iterator may return anything; the SDK's returns nothing.)
 */
export async function firstPage<T extends object>(
  pages: AsyncIterableIterator<TableEntityResultPage<T>>,
): Promise<TableEntityResultPage<T> | undefined> {
  const next = await pages.next();
  return next.done ? undefined : next.value;
}
