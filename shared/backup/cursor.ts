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
