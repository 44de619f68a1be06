import type { Page } from './api';

/**
 * The items of a Graph list, page by page: `reset` loads first pages, the "More" button follows
 * @odata.nextLink. An answer that arrives after a newer reset is dropped, so a slow search never
 * overwrites a newer one.
 */
export class Pager<T> {
  items: T[] = [];
  private nextLink: string | undefined;
  private generation = 0;

  constructor(
    private readonly moreButton: HTMLButtonElement,
    private readonly fetchPage: (url: string) => Promise<Page<T>>,
    private readonly onChange: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    moreButton.addEventListener('click', () => void this.more());
  }

  get hasMore(): boolean {
    return this.nextLink !== undefined;
  }

  /** Starts over with the first pages of these lists, merged (a GUID search asks two questions). Throws what fetchPage throws. */
  async reset(firstUrls: readonly string[]): Promise<void> {
    const generation = ++this.generation;
    this.items = [];
    this.nextLink = undefined;
    this.moreButton.hidden = true;
    const pages = await Promise.all(firstUrls.map((url) => this.fetchPage(url)));
    if (generation === this.generation) this.add(pages);
  }

  /** Follows the next links until the list ends or `maxItems` are loaded: for a search that must see every match. */
  async loadRest(maxItems: number): Promise<void> {
    const generation = this.generation;
    while (this.nextLink !== undefined && this.items.length < maxItems && generation === this.generation) {
      const page = await this.fetchPage(this.nextLink);
      if (generation === this.generation) this.add([page]);
    }
  }

  private async more(): Promise<void> {
    if (!this.nextLink) return;
    const generation = this.generation;
    this.moreButton.disabled = true;
    try {
      const page = await this.fetchPage(this.nextLink);
      if (generation === this.generation) this.add([page]);
    } catch (error) {
      this.onError(error);
    } finally {
      this.moreButton.disabled = false;
    }
  }

  private add(pages: readonly Page<T>[]): void {
    for (const page of pages) this.items.push(...page.value);
    this.nextLink = pages.map((page) => page['@odata.nextLink']).find((link) => link !== undefined);
    this.moreButton.hidden = this.nextLink === undefined;
    this.onChange();
  }
}
