import { compareKeys } from './snapshot';

/** An async iterator read one item ahead, for walking two sorted listings side by side. */
export class Cursor<T> {
  private current: IteratorResult<T> | undefined;

  constructor(private readonly source: AsyncIterator<T>) {}

  /** The next item without taking it; undefined at the end. */
  async peek(): Promise<T | undefined> {
    this.current ??= await this.source.next();
    return this.current.done ? undefined : this.current.value;
  }

  /** Takes the item peek() showed. */
  take(): void {
    this.current = undefined;
  }
}

/** A cursor over nothing: the listing of a table a base snapshot did not have. */
export const emptyCursor = <T>(): Cursor<T> => new Cursor<T>((async function* () {})());

type Keyed = { p: string; r: string };

/**
 * Walks a key-ordered cursor up to `key`: every line before it is passed to `passed` (a key the
 * other listing does not have), the line at `key` is taken and returned; undefined if there is none.
 * Called with no key, passes every line left.
 */
export async function advanceTo<T extends Keyed>(
  cursor: Cursor<T>,
  key: Keyed | undefined,
  passed: (line: T) => unknown,
): Promise<T | undefined> {
  for (let next = await cursor.peek(); next !== undefined; next = await cursor.peek()) {
    const order = key === undefined ? -1 : compareKeys(next, key);
    if (order > 0) return undefined;
    cursor.take();
    if (order === 0) return next;
    await passed(next);
  }
  return undefined;
}
