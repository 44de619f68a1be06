import { randomUUID } from 'node:crypto';
import { forEachLimit } from '../runs/forEachLimit';
import { DEFAULT_PROGRESS_EVERY_MS, RunProgress, stderrLine } from '../runs/progress';
import { settings } from '../config';
import { GraphClient } from '../graph/client';
import { serviceCredential } from '../graph/credential';
import { GraphCallFailed } from '../graph/errors';
import { DeadlineReached, patiently } from '../graph/patience';
import { FIRST_PAGE, listInventoryPage } from './graphDevices';
import { INVENTORY_SOURCES, type InventorySource } from './model';
import {
  deleteUnseen,
  entraEntity,
  type InventoryCheckpoint,
  intuneEntity,
  readInventoryCheckpoint,
  saveInventoryCheckpoint,
  upsertInventoryRow,
} from './store';

// The device inventory: Entra ID's and Intune's Windows devices, read through the Entra mirror's Graph
// client (managed identity, paging, throttling waited out) into DeviceInventory, by device id.
//
// Each source is its own run with its own checkpoint, saved after every page whose devices are all
// stored: a run cut off (time budget, crash) resumes at the next page under the same run id. A page
// that vanishes mid-run (Graph answers 400, 404 or 410 for a nextLink, as for an expired skip token)
// starts the listing over from the first page, still under the same run id: rows are upserts by device,
// so a device listed twice is stored once, and the rows a run saw are those stamped with its id.
// When a run lists the last page, the devices it did not see are deleted.

export const DEFAULT_INVENTORY_BUDGET_MS = 4 * 60_000;
/** Rows stored at once: each is its own partition, so its own request. */
export const DEFAULT_INVENTORY_CONCURRENCY = 16;
/** Listing restarts of one run before it gives up: a list whose pages keep vanishing is not one to trust. */
export const MAX_RESTARTS = 3;

const COUNTERS = ['devices', 'pages', 'unmapped', 'restarts', 'removed'] as const;
export type InventoryCounter = (typeof COUNTERS)[number];

export interface InventoryOptions {
  graph?: GraphClient;
  budgetMs?: number;
  concurrency?: number;
  progressEveryMs?: number;
  report?: (line: string) => void;
}

export interface InventoryResult {
  /** Both sources listed their last page in this run. */
  complete: boolean;
  counts: Record<InventorySource, Record<InventoryCounter, number>>;
  summary: string;
}

/** A nextLink that no longer answers (not the first page: that one failing is Graph's or our problem). */
const vanished = (error: unknown): boolean => error instanceof GraphCallFailed && [400, 404, 410].includes(error.status ?? 0);

class SourceRun {
  readonly progress: RunProgress<InventoryCounter>;

  constructor(
    private readonly source: InventorySource,
    private readonly graph: GraphClient,
    private readonly options: InventoryOptions,
    private readonly deadline: number,
    private readonly report: (line: string) => void,
  ) {
    this.progress = new RunProgress(`inventory:${source}`, COUNTERS, report, options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS);
  }

  private async start(): Promise<InventoryCheckpoint> {
    const previous = await readInventoryCheckpoint(this.source);
    const scope = this.graph.baseUrl;
    if (previous?.nextPage !== undefined && previous.scope === scope) {
      this.report(
        `inventory:${this.source}: resuming run ${previous.runId} (started ${previous.startedAt}) after ${previous.pages} page(s)`,
      );
      return previous;
    }
    const checkpoint: InventoryCheckpoint = {
      source: this.source,
      runId: randomUUID(),
      scope,
      startedAt: new Date().toISOString(),
      nextPage: FIRST_PAGE[this.source],
      pages: 0,
      restarts: 0,
      ...(previous?.scope === scope && { lastCompleteRunId: previous.lastCompleteRunId, completedAt: previous.completedAt }),
    };
    await saveInventoryCheckpoint(checkpoint);
    return checkpoint;
  }

  /** Lists and stores the page at the checkpoint, and moves the checkpoint past it. */
  private async storePage(checkpoint: InventoryCheckpoint): Promise<void> {
    const path = checkpoint.nextPage!;
    let page;
    try {
      page = await patiently(() => listInventoryPage(this.graph, this.source, path), this.deadline);
    } catch (error) {
      if (path === FIRST_PAGE[this.source] || !vanished(error)) throw error;
      if (++checkpoint.restarts > MAX_RESTARTS) {
        throw new GraphCallFailed(`Microsoft Graph's ${this.source} device list lost its pages ${MAX_RESTARTS} times in one run; stopped.`);
      }
      this.report(`inventory:${this.source}: a page vanished (${(error as GraphCallFailed).message}); listing again from the first page`);
      this.progress.add('restarts');
      checkpoint.nextPage = FIRST_PAGE[this.source];
      await saveInventoryCheckpoint(checkpoint);
      return;
    }
    const rows = [...page.entra.map((d) => entraEntity(d, checkpoint.runId)), ...page.intune.map((d) => intuneEntity(d, checkpoint.runId))];
    await forEachLimit(rows, this.options.concurrency ?? DEFAULT_INVENTORY_CONCURRENCY, upsertInventoryRow);
    this.progress.add('devices', rows.length);
    this.progress.add('unmapped', page.unmapped);
    this.progress.add('pages');
    checkpoint.nextPage = page.nextPath;
    checkpoint.pages++;
    if (checkpoint.nextPage === undefined) {
      checkpoint.lastCompleteRunId = checkpoint.runId;
      checkpoint.completedAt = new Date().toISOString();
    }
    await saveInventoryCheckpoint(checkpoint);
  }

  /** True if the source's listing completed. */
  async run(): Promise<boolean> {
    const checkpoint = await this.start();
    try {
      while (checkpoint.nextPage !== undefined) {
        if (Date.now() >= this.deadline) return false;
        await this.storePage(checkpoint);
      }
    } catch (error) {
      if (!(error instanceof DeadlineReached)) throw error;
      this.report(`inventory:${this.source}: ${error.message}`);
      return false;
    }
    this.progress.add('removed', await deleteUnseen(this.source, checkpoint.runId));
    return true;
  }
}

/**
 * One run of the inventory with the service's settings and credential: Entra ID's devices, then Intune's.
 * Throws GraphCallFailed when Graph cannot be listed (no token, refused, down past every retry) and a
 * StorageError when storage is unavailable; pages done by then stay done.
 */
export async function runInventory(options: InventoryOptions = {}): Promise<InventoryResult> {
  const graph = options.graph ?? new GraphClient(settings().graphBaseUrl, serviceCredential());
  const report = options.report ?? stderrLine;
  const deadline = Date.now() + (options.budgetMs ?? DEFAULT_INVENTORY_BUDGET_MS);
  const counts = {} as InventoryResult['counts'];
  let complete = true;
  const lines: string[] = [];
  for (const source of INVENTORY_SOURCES) {
    const run = new SourceRun(source, graph, options, deadline, report);
    const done: boolean = complete && (await run.run());
    complete &&= done;
    counts[source] = run.progress.snapshot();
    const c = counts[source];
    lines.push(
      `${source} ${c.devices} device row(s) in ${c.pages} page(s)${c.unmapped ? `, ${c.unmapped} without an Entra device id` : ''}` +
        `${c.restarts ? `, listing restarted ${c.restarts} time(s)` : ''}${done ? `, ${c.removed} gone from Graph removed` : ', not finished'}`,
    );
  }
  const ending = complete ? '' : '; stopped at the time budget: the next run resumes there';
  return { complete, counts, summary: `inventory: ${complete ? 'done' : 'stopped'}: ${lines.join('; ')}${ending}` };
}
