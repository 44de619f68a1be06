import { recordCommandRun } from '../../shared/audit/commandRun';
import { keyring } from '../../shared/crypto/keyring';
import { describeError, failureReason } from '../../shared/errors/describeError';
import { adoptionSource } from '../../shared/keyImport/auditSource';
import { type KeyCsv, readKeyCsv } from '../../shared/keyImport/csvKeys';
import { importRecoveryKey } from '../../shared/keyImport/importKey';
import { deviceIdsByName } from '../../shared/keyImport/mbam';
import { VOLUME_TYPES, type VolumeType } from '../../shared/recoveryKeys/model';
import { forEachLimit } from '../../shared/runs/forEachLimit';
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
//   why, and then nothing is stored unless --skip-invalid is given.
// - Idempotent: a key already escrowed with the same password is left as it is; one escrowed with
//   another password is reported as a conflict and left as it is (a password never changes under its id).
// - Output: progress on stderr (at most every ~2 s), one summary line on stdout. Line numbers, key
//   ids and reasons are printed; never a key.
// - Exit code: 0 when every row is escrowed as the file has it; 1 when some are not (bad rows,
//   conflicts, deleted keys, failures: each named on stderr); 2 when the import could not run (usage, an unreadable
//   or malformed file, bad settings).

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

const COUNTERS = ['seen', 'imported', 'updated', 'skipped', 'invalid', 'conflicts', 'deleted', 'failed'] as const;
type Counter = (typeof COUNTERS)[number];

export interface ImportOptions {
  skipInvalid?: boolean;
  /** The volume type of every key of a file without a volumeType column (MBAM's export has none). */
  volumeType?: VolumeType;
  concurrency?: number;
  progressEveryMs?: number;
  /** Where progress and per-row reports go; stderr by default. */
  report?: (line: string) => void;
}

export interface ImportResult {
  counts: Record<Counter, number>;
  summary: string;
  /** Nothing was stored because some rows are bad and --skip-invalid was not given. */
  refused: boolean;
}

async function storeRows(file: KeyCsv, options: ImportOptions, progress: RunProgress<Counter>): Promise<void> {
  const report = options.report ?? stderrLine;
  const source = adoptionSource('file', 'import');
  await recordCommandRun(source, 'npm run import');
  await forEachLimit(file.rows, options.concurrency ?? DEFAULT_CONCURRENCY, async ({ line, key }) => {
    try {
      const outcome = await importRecoveryKey(key, source);
      if (outcome === 'conflict') {
        report(`import: line ${line}: conflict: key ${key.id} is escrowed with another recovery password; left as it is`);
        progress.add('conflicts');
      } else if (outcome === 'deleted') {
        report(`import: line ${line}: key ${key.id} is a deleted key here; restore or purge it to import it; left as it is`);
        progress.add('deleted');
      } else {
        progress.add(outcome === 'unchanged' ? 'skipped' : outcome);
      }
    } catch (error) {
      report(`import: line ${line}: key ${key.id} not stored: ${failureReason(error)}`);
      progress.add('failed');
    }
  });
}

/** Imports a CSV file of recovery keys; throws KeyCsvError when the file cannot be read as one. */
export async function importKeyFile(path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const report = options.report ?? stderrLine;
  const file = await readKeyCsv(path, { deviceIdOfName: deviceIdsByName, volumeType: options.volumeType });
  const progress = new RunProgress<Counter>('import', COUNTERS, report, options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS);
  // Header names are the file's text like its rows: masked (a password pasted into the header) and quoted
  // with control characters escaped, so that nothing in the file reaches the terminal as a command.
  if (file.ignoredColumns.length > 0) {
    report(`import: ignoring columns ${file.ignoredColumns.map((name) => quoteClientText(withoutSecrets(name))).join(', ')}`);
  }
  for (const { line, reason } of file.problems) report(`import: line ${line}: ${reason}`);
  progress.add('seen', file.rows.length + file.problems.length + file.repeated);
  progress.add('skipped', file.repeated);
  progress.add('invalid', file.problems.length);
  const refused = file.problems.length > 0 && !options.skipInvalid;
  if (refused) {
    report(`import: ${file.problems.length} bad row(s): nothing stored. Fix them, or pass --skip-invalid to store the other rows.`);
  } else {
    await storeRows(file, options, progress);
  }
  return { counts: progress.snapshot(), summary: progress.summary(), refused };
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
  // A missing or malformed key setting stops here (runCommand: exit code 2); its message names the setting, never a key.
  keyring();

  let result: ImportResult;
  try {
    result = await importKeyFile(path, options);
  } catch (error) {
    stderrLine(`import: stopped: ${describeError(error)}. Keys stored so far stay stored; rerun to continue.`);
    return 2;
  }
  process.stdout.write(`${result.summary}\n`);
  const { invalid, conflicts, deleted, failed } = result.counts;
  return result.refused || invalid + conflicts + deleted + failed > 0 ? 1 : 0;
}

if (require.main === module) runCommand(COMMAND.tool, main);
