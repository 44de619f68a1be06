import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { CsvError, parse } from 'csv-parse';
import { badRequest, GraphError } from '../errors/graphError';
import type { RecoveryKey, VolumeType } from '../recoveryKeys/model';
import { requireComplete } from '../recoveryKeys/schema';
import { withoutSecrets } from '../redact';
import { KeyIdIndex } from './keyIdIndex';
import { type DeviceIdOfName, fromSqlDateTime, MBAM_COLUMNS } from './mbam';

// Reading a CSV export of recovery keys (MBAM, manage-bde, Entra ID's portal, a home-made script).
// Parsing is csv-parse's (RFC 4180 quoting, BOM, CRLF); each row is checked by the recoveryKeys schema,
// the same rules as a PATCH, before anything is stored. No reason given for a row ever holds its key:
// the schema's messages name the property, and every reason is masked all the same.

/** Columns that must be there, lower-cased; header names are matched without regard to case. */
export const REQUIRED_COLUMNS = ['id', 'deviceid', 'key', 'volumetype'] as const;
/** Optional: without it (or with an empty cell) a key is stored as created at the time of the import. */
export const OPTIONAL_COLUMNS = ['createddatetime'] as const;

/**
 * How to read an export that names computers instead of devices (MBAM's): `deviceIdOfName` maps a name to
 * its Entra device id (built when the header needs it), `volumeType` stands in for a missing volumeType column.
 */
export interface KeyCsvOptions {
  deviceIdOfName?: () => Promise<DeviceIdOfName>;
  volumeType?: VolumeType;
}

export interface KeyRow {
  /** Line of the file the row ends on (1-based, the header is line 1). */
  line: number;
  /** The key to store: the row is valid and the first with its key id. */
  key?: RecoveryKey;
  /** Why a row without `key` is not stored: done by an earlier run (up to `after`), bad, or repeating an earlier row exactly. */
  passed?: 'before' | 'invalid' | 'repeated';
}

export interface RowProblem {
  line: number;
  reason: string;
}

/** What the first reading of a file found: its counts, and what the second reading (keysToStore) needs. */
export interface KeyCsvCheck {
  /** Data rows: every line but the header and empty ones. */
  rows: number;
  /** Rows to store: valid, and each the first with its key id. */
  keys: number;
  /** Bad rows (each reported to `onProblem`). */
  problems: number;
  /** Rows repeating an earlier row exactly (same id, same values): stored once. */
  repeated: number;
  /** Header names other than the five known ones, as given; their cells are not read. */
  ignoredColumns: string[];
  /** SHA-256 of the file's bytes, hex: which file a resumed import continues. */
  digest: string;
  /** Bytes the check holds for the second reading (the key id index). */
  heldBytes: number;
  readonly importedAt: string;
  readonly firstLines: KeyIdIndex;
  readonly deviceIdOfName?: DeviceIdOfName;
}

/** The file cannot be read as a key export at all (unreadable, malformed CSV, a required column missing). */
export class KeyCsvError extends Error {
  override name = 'KeyCsvError';
}

type Cells = Record<string, string | undefined>;

/** A reason with anything of the row's password masked: its text as given, and anything shaped like one. */
function maskedReason(message: string, cells: Cells): string {
  const given = cells.key?.trim();
  const masked = given && given.length >= 6 ? message.split(given).join('[key]') : message;
  return withoutSecrets(masked);
}

function keyOf(cells: Cells, importedAt: string, options: KeyCsvOptions, deviceIdOfName?: DeviceIdOfName): RecoveryKey {
  const cell = (name: string): string | undefined => (cells[name] === '' ? undefined : cells[name]);
  let deviceId = cell('deviceid');
  const computer = cell('computername');
  if (deviceId === undefined && computer !== undefined && deviceIdOfName) {
    const mapped = deviceIdOfName(computer);
    if ('problem' in mapped) throw badRequest(mapped.problem);
    deviceId = mapped.deviceId;
  }
  const created = cell('createddatetime');
  return requireComplete({
    id: cell('id'),
    deviceId,
    key: cell('key'),
    volumeType: (cell('volumetype') ?? options.volumeType) as RecoveryKey['volumeType'] | undefined,
    createdDateTime: created === undefined ? importedAt : fromSqlDateTime(created),
  });
}

/** A header name as the key file reads it: lower-case, and MBAM's names (spaces ignored) as the columns they fill. */
function columnOf(name: string): string {
  const lower = name.trim().toLowerCase();
  return MBAM_COLUMNS[lower.replace(/[\s_]/g, '')] ?? lower;
}

function checkHeader(names: string[], options: KeyCsvOptions): string[] {
  const stoodIn = (column: string): boolean =>
    (column === 'deviceid' && names.includes('computername') && options.deviceIdOfName !== undefined) ||
    (column === 'volumetype' && options.volumeType !== undefined);
  const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c) && !stoodIn(c));
  if (missing.length > 0) {
    throw new KeyCsvError(
      `the header has no column ${missing.join(', ')} (it needs id, deviceId, key, volumeType and may have createdDateTime; ` +
        "MBAM's RecoveryKeyId, RecoveryKey, MachineName and LastUpdateTime are read as id, key, the computer and createdDateTime, " +
        'with --volume-type for a file without volumeType)',
    );
  }
  const known: readonly string[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS, 'computername'];
  return names.filter((n) => !known.includes(n));
}

interface ReadRow {
  line: number;
  key?: RecoveryKey;
  /** Why the row is bad (masked). */
  problem?: string;
  /** The row's cells other than the id, to tell a repeat from a clash. */
  values?: string;
}

interface Reading {
  options: KeyCsvOptions;
  /** Rows up to this line are passed on unread (a resumed import). */
  after: number;
  /** The createdDateTime of a row without one: the same in both readings, so that a row's values are too. */
  importedAt: string;
  ignoredColumns: string[];
  deviceIdOfName?: DeviceIdOfName;
}

/**
 * The rows of a key file, one at a time as csv-parse streams them (the file is never held whole), each
 * checked by the recoveryKeys schema. Throws KeyCsvError when the file is not a readable key export; its
 * message names the problem and line, never a cell's content. `digest` is fed every byte read.
 */
async function* readRows(path: string, reading: Reading, digest: Hash): AsyncGenerator<ReadRow> {
  let byComputer = false;
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const names = header.map(columnOf);
      reading.ignoredColumns = checkHeader(names, reading.options);
      byComputer = names.includes('computername') && !names.includes('deviceid');
      return names;
    },
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    trim: true,
  });
  // pipe() does not pass a read error on (a missing file): the parser is ended with it, so the loop below sees it.
  const file = createReadStream(path);
  file
    .on('error', (error) => parser.destroy(error))
    .on('data', (chunk) => digest.update(chunk))
    .pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Cells; info: { lines: number; error?: CsvError } }>) {
      const line = info.lines;
      if (line <= reading.after) {
        yield { line };
        continue;
      }
      if (info.error) {
        yield { line, problem: `the row has another number of fields than the header (${info.error.code})` };
        continue;
      }
      if (byComputer && !reading.deviceIdOfName) reading.deviceIdOfName = await reading.options.deviceIdOfName?.();
      try {
        const key = keyOf(record, reading.importedAt, reading.options, reading.deviceIdOfName);
        yield { line, key, values: [key.deviceId, key.key, key.volumeType, key.createdDateTime].join('|') };
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        yield { line, problem: maskedReason(error.message, record) };
      }
    }
  } catch (error) {
    if (error instanceof KeyCsvError) throw error;
    // csv-parse's messages can quote the text around a malformed field: only its code and line are shown.
    if (error instanceof CsvError)
      throw new KeyCsvError(`malformed CSV (${error.code}) near line ${String((error as CsvError & { lines?: number }).lines ?? '?')}`);
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyCsvError(`cannot read ${path}${code ? ` (${code})` : ''}`);
  } finally {
    // A reader that stops early (an import stopped by a failure) leaves neither open.
    file.destroy();
    parser.destroy();
  }
}

/**
 * Reads and checks every row of a CSV file with a header line, streaming: bad rows go to `onProblem`
 * with their line numbers as they are found, and only each key id's first line is kept (KeyIdIndex).
 * Throws KeyCsvError when the file is not a readable key export.
 */
export async function checkKeyCsv(
  path: string,
  options: KeyCsvOptions,
  onProblem: (problem: RowProblem) => void,
  /** Called after each row with the number read so far (for progress lines). */
  onRow: (rows: number) => void = () => undefined,
): Promise<KeyCsvCheck> {
  const reading: Reading = { options, after: 0, importedAt: new Date().toISOString(), ignoredColumns: [] };
  const firstLines = new KeyIdIndex();
  const digest = createHash('sha256');
  const counts = { rows: 0, keys: 0, problems: 0, repeated: 0 };
  const problem = (line: number, reason: string): void => {
    counts.problems++;
    onProblem({ line, reason });
  };
  for await (const { line, key, problem: reason, values } of readRows(path, reading, digest)) {
    onRow(++counts.rows);
    if (!key) {
      problem(line, reason!);
      continue;
    }
    const earlier = firstLines.add(key.id, line, values!);
    if (!earlier) counts.keys++;
    else if (earlier.same) counts.repeated++;
    else problem(line, `key id ${key.id} is also on line ${earlier.line}, with other values`);
  }
  return {
    ...counts,
    ignoredColumns: reading.ignoredColumns,
    digest: digest.digest('hex'),
    heldBytes: firstLines.bytes,
    importedAt: reading.importedAt,
    firstLines,
    deviceIdOfName: reading.deviceIdOfName,
  };
}

/**
 * The file's rows again, after checkKeyCsv, each with its key if it is one to store: valid, the first
 * of its id, and after line `after` (rows up to it are passed on without being read again). Throws
 * KeyCsvError if the file is not the one checked (its digest changed).
 */
export async function* keysToStore(path: string, check: KeyCsvCheck, options: KeyCsvOptions, after = 0): AsyncGenerator<KeyRow> {
  const reading: Reading = { options, after, importedAt: check.importedAt, ignoredColumns: [], deviceIdOfName: check.deviceIdOfName };
  const digest = createHash('sha256');
  for await (const { line, key, values } of readRows(path, reading, digest)) {
    if (line <= after) yield { line, passed: 'before' };
    else if (!key) yield { line, passed: 'invalid' };
    else {
      // Every id is in the index by now: this answers with the id's first line and whether this row repeats it.
      const first = check.firstLines.add(key.id, line, values!);
      if (first?.line === line) yield { line, key };
      else yield { line, passed: first?.same ? 'repeated' : 'invalid' };
    }
  }
  if (digest.digest('hex') !== check.digest) throw new KeyCsvError(`${path} changed while it was imported; run the import again`);
}
