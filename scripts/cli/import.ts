import { createHash } from 'node:crypto';
import { recordCommandRun } from '../../shared/audit/commandRun';
import { keyring } from '../../shared/crypto/keyring';
import { describeError, failureReason } from '../../shared/errors/describeError';
import { adoptionSource } from '../../shared/keyImport/auditSource';
import { checkKeyCsv, type KeyCsvCheck, keysToStore } from '../../shared/keyImport/csvKeys';
import { type ImportPosition, readImportCheckpoint, removeImportCheckpoint, saveImportCheckpoint } from '../../shared/keyImport/checkpoint';
import { importRecoveryKey } from '../../shared/keyImport/importKey';
import { deviceIdsByName } from '../../shared/keyImport/mbam';
import { type RecoveryKey, VOLUME_TYPES, type VolumeType } from '../../shared/recoveryKeys/model';
import type { AuditSource } from '../../shared/audit/model';
import { forEachOfStream } from '../../shared/runs/forEachLimit';
import { DEFAULT_PROGRESS_EVERY_MS, RunProgress, stderrLine } from '../../shared/runs/progress';
import { withoutSecrets } from '../../shared/redact';
import { quoteClientText } from '../../shared/text/quoteClientText';
import { parseCommandLine, runCommand, UsageError, wholeNumber } from './commandLine';

// `npm run import -- <file.csv> [--skip-invalid]`: brings recovery keys exported from MBAM, manage-bde
// or anywhere else into the escrow (docs/adoption.md). Each row is stored through the PATCH use case
// (validation, encryption, audit 'Import BitLocker key' with Source: file).
//
// Settings are the service's own (shared/config), as for `npm run reencrypt`: STORAGE_CONNECTION_STRING,
// ENCRYPTION_KEYS / ENCRYPTION_ACTIVE_KEY (or AUTH_MODE=local with LOCAL_STATE_DIR for the development key).
//
// - Every row is checked before anything is stored; a bad row is reported with its line number and
//   why, and then nothing is stored unless --skip-invalid is given. The file is read twice, streaming
//   (to check, then to store), never held: memory holds the key id index (28-56 bytes per key, for
//   repeated rows) and the rows in flight, whatever the file's size.
// - Resumable: a checkpoint in storage (shared/keyImport/checkpoint.ts) says up to which line every row
//   is done; a run of the same file after a stop (Ctrl-C, a kill, a lost connection) goes on from there.
// - Idempotent: a key already escrowed with the same password is left as it is; one escrowed with
//   another password is reported as a conflict and left as it is (a password never changes under its id).
// - Output: progress on stderr (at most every ~2 s: counts, keys/s, rows to go and about how long), one summary line on stdout. Line numbers, key
//   ids and reasons are printed; never a key.
// - Exit code: 0 when every row is escrowed as the file has it; 1 when some are not (bad rows,
//   conflicts, deleted keys, failures: each named on stderr by the run that met it; a resumed run
//   counts those before its checkpoint and says how many); 2 when the import could not run (usage,
//   an unreadable or malformed file, bad settings).

const COMMAND = {
  tool: 'import',
  usage: 'usage: npm run import -- <file.csv> [--skip-invalid] [--volume-type TYPE] [--concurrency N] [--progress-every MS]',
  options: {
    'skip-invalid': { type: 'boolean' },
    'volume-type': { type: 'string' },
    concurrency: { type: 'string' },
    'progress-every': { type: 'string' },
  },
  allowPositionals: true,
} as const;

/** --volume-type: one of Graph's names of a volume type; UsageError otherwise. */
function volumeTypeOption(value: string | undefined): VolumeType | undefined {
  if (value === undefined) return undefined;
  if (!(VOLUME_TYPES as readonly string[]).includes(value)) throw new UsageError(`--volume-type must be one of ${VOLUME_TYPES.join(', ')}`);
  return value as VolumeType;
}

/** Rows stored at once: enough to hide storage latency, few enough to leave the service its share. */
const DEFAULT_CONCURRENCY = 8;

const COUNTERS = ['seen', 'imported', 'updated', 'skipped', 'invalid', 'conflicts', 'deleted', 'failed', 'resumed'] as const;
type Counter = (typeof COUNTERS)[number];

/** How often the checkpoint is saved while rows are stored: a storage request every few seconds, whatever the rate. */
const CHECKPOINT_EVERY_MS = 2_000;

export interface ImportOptions {
  skipInvalid?: boolean;
  /** The volume type of every key of a file without a volumeType column (MBAM's export has none). */
  volumeType?: VolumeType;
  concurrency?: number;
  progressEveryMs?: number;
  /** Where progress and per-row reports go; stderr by default. */
  report?: (line: string) => void;
  /** Called as the import moves from checking the file to storing its rows (nothing is stored before). */
  onStoring?: () => void;
  /**
   * Ctrl-C while rows are stored: saves the checkpoint, then hands over the line it reached and the
   * counts so far (the command prints them and exits). Unset, SIGINT keeps Node's default.
   */
  onInterrupt?: (doneThrough: number, counts: string) => void;
}

export interface ImportResult {
  counts: Record<Counter, number>;
  summary: string;
  /** Nothing was stored because some rows are bad and --skip-invalid was not given. */
  refused: boolean;
  /** Bytes the run held for the file's rows (the key id index): what grows with the file. */
  heldBytes: number;
}

/** How a row ended: stored or left as it is (a problem the exit code reports), or not done (a resumed run redoes it). */
type RowEnd = 'done' | 'conflicts' | 'deleted' | 'failed';

/**
 * The last line up to which every row is finished, as rows start in line order and finish in any:
 * one below the first row still in flight, and never past a row that failed (a resumed run redoes it);
 * and how many rows up to a line were left as they are, earlier runs' included.
 */
class FinishedThrough {
  private readonly inFlight = new Set<number>();
  private lastStarted: number;
  private firstFailed = Infinity;
  private readonly problemLines = { conflicts: [] as number[], deleted: [] as number[] };

  constructor(private readonly earlier: ImportPosition) {
    this.lastStarted = earlier.doneThrough;
  }

  started(line: number): void {
    this.lastStarted = line;
    this.inFlight.add(line);
  }

  finished(line: number, end: RowEnd = 'done'): void {
    this.inFlight.delete(line);
    if (end === 'failed') this.firstFailed = Math.min(this.firstFailed, line);
    else if (end !== 'done') this.problemLines[end].push(line);
  }

  /** Where the import stands at `line` (a rerun redoes the rows after it, and counts their problems itself). */
  positionAt(line: number): ImportPosition {
    const upTo = (lines: number[]) => lines.filter((problem) => problem <= line).length;
    return {
      doneThrough: line,
      conflicts: this.earlier.conflicts + upTo(this.problemLines.conflicts),
      deleted: this.earlier.deleted + upTo(this.problemLines.deleted),
    };
  }

  get line(): number {
    const open = Math.min(this.firstFailed, ...this.inFlight);
    return open === Infinity ? this.lastStarted : open - 1;
  }

  get anyFailed(): boolean {
    return this.firstFailed !== Infinity;
  }
}

/** The checkpoint of one import, saved every CHECKPOINT_EVERY_MS as its rows finish (./checkpoint.ts). */
class ImportCheckpoint {
  private saved: number;
  private savedAt = Date.now();
  private saving = false;

  /** Where this run's rows stand, from where the earlier runs stopped. */
  readonly rows: FinishedThrough;

  constructor(
    private readonly importId: string,
    earlier: ImportPosition,
    private readonly report: (line: string) => void,
  ) {
    this.rows = new FinishedThrough(earlier);
    this.saved = earlier.doneThrough;
  }

  /** The line the checkpoint in storage was last saved at by this run. */
  get savedThrough(): number {
    return this.saved;
  }

  /** Saves where the import stands if it moved on and the last save is old enough; never throws. */
  async maybeSave(): Promise<void> {
    if (this.saving || Date.now() - this.savedAt < CHECKPOINT_EVERY_MS || this.rows.line <= this.saved) return;
    this.saving = true;
    try {
      await this.save();
    } finally {
      this.saving = false;
    }
  }

  private async save(): Promise<void> {
    const line = this.rows.line;
    this.savedAt = Date.now();
    try {
      await saveImportCheckpoint(this.importId, this.rows.positionAt(line));
      this.saved = line;
    } catch (error) {
      this.report(`import: checkpoint not saved (${failureReason(error)}); a rerun redoes more rows, nothing is lost`);
    }
  }

  /** The end of the run: every row done, the checkpoint goes (a rerun checks every key again); else it says where to go on. */
  async close(complete: boolean): Promise<void> {
    if (complete && !this.rows.anyFailed) await removeImportCheckpoint(this.importId);
    else if (this.rows.line > this.saved) await this.save();
  }
}

/** Which import a checkpoint belongs to: the file's content and the option that changes what its rows mean. */
const importIdOf = (check: KeyCsvCheck, options: ImportOptions): string =>
  createHash('sha256')
    .update(`${check.digest} ${options.volumeType ?? ''}`)
    .digest('hex');

async function storeRow(
  line: number,
  key: RecoveryKey,
  source: AuditSource,
  report: (line: string) => void,
  progress: RunProgress<Counter>,
): Promise<RowEnd> {
  const outcome = await importRecoveryKey(key, source);
  if (outcome === 'conflict') {
    report(`import: line ${line}: conflict: key ${key.id} is escrowed with another recovery password; left as it is`);
    progress.add('conflicts');
    return 'conflicts';
  }
  if (outcome === 'deleted') {
    report(`import: line ${line}: key ${key.id} is a deleted key here; restore or purge it to import it; left as it is`);
    progress.add('deleted');
    return 'deleted';
  }
  progress.add(outcome === 'unchanged' ? 'skipped' : outcome);
  return 'done';
}

/** The second reading of the file: each row to store, `concurrency` at a time, from the checkpoint on. */
async function storeRows(path: string, check: KeyCsvCheck, options: ImportOptions, progress: RunProgress<Counter>): Promise<void> {
  const report = options.report ?? stderrLine;
  const importId = importIdOf(check, options);
  const earlier = await readImportCheckpoint(importId);
  const after = earlier.doneThrough;
  if (after > 0) {
    const leftAlone = earlier.conflicts + earlier.deleted;
    report(
      `import: resuming this file after line ${after}: an earlier run finished every row up to it` +
        (leftAlone > 0 ? ` (${earlier.conflicts} conflict(s) and ${earlier.deleted} deleted key(s) among them, reported then)` : ''),
    );
    progress.skipAhead('conflicts', earlier.conflicts);
    progress.skipAhead('deleted', earlier.deleted);
  }
  const source = adoptionSource('file', 'import');
  await recordCommandRun(source, 'npm run import');
  const checkpoint = new ImportCheckpoint(importId, earlier, report);
  const { onInterrupt } = options;
  const interrupted = (): void => {
    void checkpoint.close(false).finally(() => onInterrupt!(checkpoint.savedThrough, progress.describe()));
  };
  if (onInterrupt) process.once('SIGINT', interrupted);
  const rows = keysToStore(path, check, { deviceIdOfName: deviceIdsByName, volumeType: options.volumeType }, after);
  const storeEach = forEachOfStream(rows, options.concurrency ?? DEFAULT_CONCURRENCY, async ({ line, key, passed }) => {
    checkpoint.rows.started(line);
    let end: RowEnd = 'done';
    if (passed === 'before') {
      progress.skipAhead('seen', 1);
      progress.skipAhead('resumed', 1);
    } else {
      progress.add('seen');
      // Bad rows are counted from the check, before and after the checkpoint alike (importKeyFile).
      if (passed === 'repeated') progress.add('skipped');
      else if (passed === undefined) {
        try {
          end = await storeRow(line, key!, source, report, progress);
        } catch (error) {
          report(`import: line ${line}: key ${key!.id} not stored: ${failureReason(error)}`);
          progress.add('failed');
          end = 'failed';
        }
      }
    }
    checkpoint.rows.finished(line, end);
    await checkpoint.maybeSave();
  });
  try {
    await storeEach;
  } catch (error) {
    await checkpoint.close(false).catch(() => undefined);
    throw error;
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
  await checkpoint.close(true);
}

/** Imports a CSV file of recovery keys; throws KeyCsvError when the file cannot be read as one. */
export async function importKeyFile(path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const report = options.report ?? stderrLine;
  const progress = new RunProgress<Counter>('import', COUNTERS, report, options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS);
  const everyMs = options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS;
  let lastLine = Date.now();
  const check = await checkKeyCsv(
    path,
    { deviceIdOfName: deviceIdsByName, volumeType: options.volumeType },
    ({ line, reason }) => report(`import: line ${line}: ${reason}`),
    (rows) => {
      if (Date.now() - lastLine < everyMs) return;
      lastLine = Date.now();
      report(`import: checking the file: ${rows} row(s) read`);
    },
  );
  // Header names are the file's text like its rows: masked (a password pasted into the header) and quoted
  // with control characters escaped, so that nothing in the file reaches the terminal as a command.
  if (check.ignoredColumns.length > 0) {
    report(`import: ignoring columns ${check.ignoredColumns.map((name) => quoteClientText(withoutSecrets(name))).join(', ')}`);
  }
  progress.total = check.rows;
  const refused = check.problems > 0 && !options.skipInvalid;
  if (refused) {
    report(`import: ${check.problems} bad row(s): nothing stored. Fix them, or pass --skip-invalid to store the other rows.`);
    progress.add('invalid', check.problems);
    progress.add('skipped', check.repeated);
    progress.add('seen', check.rows);
  } else {
    report(`import: ${check.rows} row(s) checked, ${check.keys} key(s) to store`);
    progress.add('invalid', check.problems);
    options.onStoring?.();
    await storeRows(path, check, options, progress);
  }
  return { counts: progress.snapshot(), summary: progress.summary(), refused, heldBytes: check.heldBytes };
}

async function main(): Promise<number> {
  const { path, options } = parseCommandLine(COMMAND, ({ values, positionals }) => {
    if (positionals.length !== 1) throw new UsageError('give exactly one file');
    const importOptions: ImportOptions = {
      skipInvalid: values['skip-invalid'] === true,
      volumeType: volumeTypeOption(values['volume-type']),
      concurrency: wholeNumber(values.concurrency, '--concurrency', DEFAULT_CONCURRENCY, 1),
      progressEveryMs: wholeNumber(values['progress-every'], '--progress-every', DEFAULT_PROGRESS_EVERY_MS, 0),
    };
    return { path: positionals[0], options: importOptions };
  });
  let storing = false;
  options.onStoring = () => (storing = true);
  options.onInterrupt = (doneThrough, counts) => {
    process.stdout.write(
      `import: stopped (Ctrl-C) after line ${doneThrough}: ${counts}. The checkpoint is saved: run the same file again to resume.\n`,
    );
    process.exit(130);
  };
  // A missing or malformed key setting stops here (runCommand: exit code 2); its message names the setting, never a key.
  keyring();

  let result: ImportResult;
  try {
    result = await importKeyFile(path, options);
  } catch (error) {
    stderrLine(
      storing
        ? `import: stopped: ${describeError(error)}. Keys stored so far stay stored; rerun to continue.`
        : `import: stopped while checking the file: ${describeError(error)}. Nothing is stored; fix the file and rerun.`,
    );
    return 2;
  }
  process.stdout.write(`${result.summary}\n`);
  const { invalid, conflicts, deleted, failed } = result.counts;
  return result.refused || invalid + conflicts + deleted + failed > 0 ? 1 : 0;
}

if (require.main === module) runCommand(COMMAND.tool, main);
