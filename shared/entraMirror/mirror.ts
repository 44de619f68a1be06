import { randomUUID } from 'node:crypto';
import { adoptionSource } from '../keyImport/auditSource';
import { recordCommandRun } from '../audit/commandRun';
import { failureReason } from '../errors/describeError';
import { forEachLimit } from '../runs/forEachLimit';
import { findEscrowedKey, importRecoveryKey } from '../keyImport/importKey';
import { DEFAULT_PROGRESS_EVERY_MS, RunProgress, stderrLine } from '../runs/progress';
import { supersedeDisclosedBy } from '../recoveryKeys/rotation';
import { listAwaiting } from '../recoveryKeys/awaitingRotation';
import type { AuditSource } from '../audit/model';
import { type Caller, callerFromClaims } from '../auth/caller';
import { loadJose } from '../auth/lazyJose';
import { settings } from '../config';
import type { TokenCredential } from '@azure/identity';
import { GraphClient } from '../graph/client';
import { serviceCredential } from '../graph/credential';
import { GraphCallFailed } from '../graph/errors';
import { isGuid } from '../text/normalizeGuid';
import { escapeNonPrintableAscii } from '../text/quoteClientText';
import { DeadlineReached, patiently } from '../graph/patience';
import { GRAPH_SCOPE } from '../graph/policies';
import { type Checkpoint, countNotSeenBy, markSeen, readCheckpoint, saveCheckpoint } from './checkpoint';
import { type ListedKey, listEntraKeys, readEntraKey, RECOVERY_KEYS_PATH } from './entraKeys';

// The Entra mirror: every BitLocker recovery key Entra ID holds, escrowed here too, so that deleting a
// stale device in Entra (which deletes its keys there, for good) loses nothing.
//
// A run lists Entra's keys page by page; each key not yet escrowed is read with $select=key and stored
// through the PATCH use case (audited 'Import BitLocker key', Source: entra, initiated by the mirror's
// identity). Keys already escrowed are never read again: each read is an audited event in Entra, and
// Graph throttles them hard. A key Entra no longer has stays here; a complete run counts them.
// Runs resume from a checkpoint (./checkpoint.ts) and stop at their time budget.

/** Entries of the awaiting-rotation index read to know which devices a new key may retire a key of; beyond, every device is looked at. */
const AWAITING_ENTRIES_READ = 5_000;

/** The devices of the first `upTo` entries of the awaiting-rotation index; undefined if it holds more. */
async function devicesAwaitingRotation(upTo: number): Promise<ReadonlySet<string> | undefined> {
  const devices = new Set<string>();
  let read = 0;
  let continuation: string | undefined;
  do {
    const page = await listAwaiting(1000, continuation);
    for (const entry of page.entries) devices.add(entry.deviceId);
    read += page.entries.length;
    continuation = page.continuation;
  } while (continuation !== undefined && read < upTo);
  return continuation === undefined ? devices : undefined;
}

/** Keys read and stored at once: Graph throttles key reads per app and tenant, so a few. */
export const DEFAULT_MIRROR_CONCURRENCY = 4;
/** A run's time; a timer function must end before the host's functionTimeout (5 or 10 minutes on Consumption). */
export const DEFAULT_MIRROR_BUDGET_MS = 4 * 60_000;

const COUNTERS = ['seen', 'imported', 'updated', 'skipped', 'vanished', 'conflicts', 'deleted', 'failed', 'key reads'] as const;
export type MirrorCounter = (typeof COUNTERS)[number];

export interface MirrorOptions {
  /** The identity the run lists and reads Entra's keys as, and is audited as: DefaultAzureCredential by default. */
  credential?: TokenCredential;
  budgetMs?: number;
  concurrency?: number;
  progressEveryMs?: number;
  /** Progress lines and per-key reports (ids and reasons, never a key); stderr by default. */
  report?: (line: string) => void;
}

export interface MirrorResult {
  runId: string;
  /** The listing reached Entra's last page in this run. */
  complete: boolean;
  counts: Record<MirrorCounter, number>;
  /** Escrowed keys an earlier run saw in Entra and this complete run did not; undefined unless complete. */
  goneFromEntra?: number;
  /** Pages of this run (over all its resumptions) finished so far. */
  pages: number;
  summary: string;
}

/** The mirror's own identity, from its Graph token's claims, for the audit trail (never the token itself). */
async function mirrorCaller(credential: TokenCredential): Promise<Caller | undefined> {
  let token;
  try {
    token = await credential.getToken(GRAPH_SCOPE);
  } catch (error) {
    // Before anything is listed: a run without a Graph token stops here, naming why (never a secret).
    throw new GraphCallFailed(`No token for Microsoft Graph: ${(error as Error).name}.`);
  }
  if (!token) throw new GraphCallFailed('No token for Microsoft Graph.');
  const { decodeJwt } = await loadJose();
  try {
    return callerFromClaims(decodeJwt(token.token));
  } catch {
    return undefined;
  }
}

class MirrorRun {
  readonly progress: RunProgress<MirrorCounter>;
  private readonly deadline: number;

  constructor(
    private readonly graph: GraphClient,
    private readonly source: AuditSource,
    private readonly options: MirrorOptions,
    private readonly report: (line: string) => void,
  ) {
    this.deadline = Date.now() + (options.budgetMs ?? DEFAULT_MIRROR_BUDGET_MS);
    this.progress = new RunProgress('mirror:entra', COUNTERS, report, options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS);
  }

  /** A key of the current page was left for the next run (its Retry-After ran past the budget). */
  private pageUnfinished = false;

  timeIsUp = (): boolean => this.pageUnfinished || Date.now() >= this.deadline;

  private reportDeleted(id: string): void {
    this.report(`mirror:entra: key ${id} is a deleted key here; restore or purge it to mirror it; left as it is`);
    this.progress.add('deleted');
  }

  /** One listed key; true if it is escrowed now (so Entra's listing of it counts as seen). */
  private async mirrorKey(listed: ListedKey): Promise<boolean> {
    this.progress.add('seen');
    if (!isGuid(listed.id)) {
      // Graph's key ids are GUIDs; anything else is a broken or hostile answer, never a storage key.
      this.report(`mirror:entra: key ${listed.id} not mirrored: Microsoft Graph listed a key id that is not a GUID`);
      this.progress.add('failed');
      return false;
    }
    try {
      const escrowed = await findEscrowedKey(listed.id);
      const readAt = Date.now();
      if (escrowed?.deletedDateTime !== undefined) {
        // Not read from Entra again on every run: a deleted key keeps its id until restored or purged.
        this.reportDeleted(listed.id);
        return true;
      }
      if (escrowed) {
        this.progress.add('skipped');
        return true;
      }
      this.progress.add('key reads');
      const key = await patiently(() => readEntraKey(this.graph, listed), this.deadline);
      if (!key) {
        this.progress.add('vanished');
        return false;
      }
      const outcome = await importRecoveryKey(key, this.source, { stored: escrowed, at: readAt });
      if (outcome === 'conflict') {
        this.report(`mirror:entra: conflict: key ${key.id} is escrowed with another recovery password than Entra's; left as it is`);
        this.progress.add('conflicts');
      } else if (outcome === 'deleted') {
        this.reportDeleted(key.id);
      } else {
        this.progress.add(outcome === 'unchanged' ? 'skipped' : outcome);
      }
      // A key Intune (or the user) rotated after a reveal comes back through here: it retires the disclosed one.
      if (outcome === 'imported' && (await this.mayRetireOnDevice(key.deviceId))) {
        for (const old of await supersedeDisclosedBy(key, this.source)) {
          this.report(`mirror:entra: key ${old} superseded by key ${key.id}, created after its disclosure`);
        }
      }
      return true;
    } catch (error) {
      if (error instanceof DeadlineReached) {
        // Not a failure: the key is left for the next run, which resumes at this page.
        this.pageUnfinished = true;
        return false;
      }
      this.report(`mirror:entra: key ${listed.id} not mirrored: ${failureReason(error)}`);
      this.progress.add('failed');
      return false;
    }
  }

  /** Devices with keys awaiting rotation, read once per page when a key of it is imported (see mayRetireOnDevice). */
  private awaitingOnPage: Promise<ReadonlySet<string> | undefined> | undefined;

  /**
   * Whether a key imported for `deviceId` could retire a disclosed key there: only a device with a key
   * in the awaiting-rotation index can have one, and that index is written before a key is marked
   * disclosed. Read after the page was listed, so every key of the page was created before the read: a
   * disclosure missing from it is newer than the key, which then retires nothing. Without it (more
   * entries than AWAITING_ENTRIES_READ), every device is looked at, as before the index was read.
   * This spares the list of the device's keys (and the read and confirmation of the new key's index
   * entry it makes) for the tenant's other devices: three storage requests of seven per new key.
   */
  private async mayRetireOnDevice(deviceId: string): Promise<boolean> {
    // Unreadable: every device is looked at, as before, and that look says what fails.
    this.awaitingOnPage ??= devicesAwaitingRotation(AWAITING_ENTRIES_READ).catch(() => undefined);
    const devices = await this.awaitingOnPage;
    return devices === undefined || devices.has(deviceId);
  }

  /** The pages this run listed, to refuse a nextLink cycle. */
  private readonly pagesRead = new Set<string>();

  /** Mirrors the page at `checkpoint.nextPage`; false if the budget ran out before its last key. */
  private async mirrorPage(checkpoint: Checkpoint): Promise<boolean> {
    const page = await patiently(() => listEntraKeys(this.graph, checkpoint.nextPage!), this.deadline);
    this.awaitingOnPage = undefined;
    if (page.malformed > 0) {
      this.report(`mirror:entra: ${page.malformed} listed item(s) without an id skipped`);
      this.progress.add('failed', page.malformed);
    }
    const seen: string[] = [];
    const started = await forEachLimit(
      page.keys,
      this.options.concurrency ?? DEFAULT_MIRROR_CONCURRENCY,
      async (listed) => {
        if (await this.mirrorKey(listed)) seen.push(listed.id);
      },
      this.timeIsUp,
    );
    await markSeen(seen, checkpoint);
    if (started < page.keys.length || this.pageUnfinished) return false;
    // A nextLink back to a page this run read would loop until the budget, every run.
    this.pagesRead.add(checkpoint.nextPage!);
    if (page.nextPath !== undefined && this.pagesRead.has(page.nextPath)) {
      throw new GraphCallFailed(
        'Microsoft Graph answered with an @odata.nextLink to a page this run already read (a cycle); not followed.',
        200,
      );
    }
    checkpoint.nextPage = page.nextPath;
    checkpoint.pages++;
    await saveCheckpoint(checkpoint);
    return true;
  }

  async run(): Promise<MirrorResult> {
    const scope = `${this.graph.baseUrl} ${this.source.caller.tid ?? ''}`;
    const previous = await readCheckpoint(scope);
    const resumed = previous?.nextPage !== undefined && previous.scope === scope;
    const checkpoint: Checkpoint = resumed
      ? previous
      : { runId: randomUUID(), scope, startedAt: new Date().toISOString(), nextPage: RECOVERY_KEYS_PATH, pages: 0 };
    if (resumed)
      this.report(`mirror:entra: resuming run ${checkpoint.runId} (started ${checkpoint.startedAt}) after ${checkpoint.pages} page(s)`);
    else await saveCheckpoint(checkpoint);

    let complete = false;
    try {
      while (!this.timeIsUp() && (await this.mirrorPage(checkpoint))) {
        if (checkpoint.nextPage === undefined) {
          complete = true;
          break;
        }
      }
    } catch (error) {
      if (!(error instanceof DeadlineReached)) throw error;
      this.report(`mirror:entra: ${error.message}`);
    }
    const goneFromEntra = complete ? await countNotSeenBy(checkpoint) : undefined;
    const ending = complete
      ? `, ${goneFromEntra} escrowed key(s) no longer in Entra (kept)`
      : `; stopped at the time budget after ${checkpoint.pages} page(s): the next run resumes there`;
    return {
      runId: checkpoint.runId,
      complete,
      counts: this.progress.snapshot(),
      goneFromEntra,
      pages: checkpoint.pages,
      summary: `${this.progress.summary()}${ending}`,
    };
  }
}

/**
 * One run of the mirror, with the service's settings (GRAPH_BASE_URL, storage, encryption keys) and
 * credential. Throws GraphCallFailed when Graph cannot be listed at all (no token, refused, down past
 * every retry) and the store's StorageError when storage is unavailable; keys done by then stay done, and
 * the checkpoint is where the next run starts.
 */
export async function runEntraMirror(options: MirrorOptions = {}): Promise<MirrorResult> {
  const credential = options.credential ?? serviceCredential();
  const graph = new GraphClient(settings().graphBaseUrl, credential);
  const source = adoptionSource('entra', 'mirror', await mirrorCaller(credential));
  await recordCommandRun(source, 'the Entra mirror');
  const report = options.report ?? stderrLine;
  // Lines carry ids and text from Graph: escaped, so that no answer reaches a terminal as a command or forges a line.
  return new MirrorRun(graph, source, options, (line) => report(escapeNonPrintableAscii(line))).run();
}
