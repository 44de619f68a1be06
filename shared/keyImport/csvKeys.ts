import { createReadStream } from 'node:fs';
import { CsvError, parse } from 'csv-parse';
import { badRequest, GraphError } from '../errors/graphError';
import type { RecoveryKey, VolumeType } from '../recoveryKeys/model';
import { requireComplete } from '../recoveryKeys/schema';
import { withoutSecrets } from '../redact';
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
  key: RecoveryKey;
}

export interface RowProblem {
  line: number;
  reason: string;
}

export interface KeyCsv {
  rows: KeyRow[];
  problems: RowProblem[];
  /** Rows repeating an earlier row exactly (same id, same values): stored once. */
  repeated: number;
  /** Header names other than the five known ones, as given; their cells are not read. */
  ignoredColumns: string[];
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

const sameKey = (a: RecoveryKey, b: RecoveryKey): boolean =>
  a.key === b.key && a.deviceId === b.deviceId && a.volumeType === b.volumeType && a.createdDateTime === b.createdDateTime;

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

/**
 * Reads and checks every row of a CSV file with a header line. Rows are returned normalised (ids
 * lower-case without braces, volume types by name); bad rows as problems with their line numbers.
 * Throws KeyCsvError when the file is not a readable key export; its message names the problem and
 * line, never a cell's content.
 */
export async function readKeyCsv(path: string, options: KeyCsvOptions = {}): Promise<KeyCsv> {
  const importedAt = new Date().toISOString();
  let byComputer = false;
  let deviceIdOfName: DeviceIdOfName | undefined;
  const result: KeyCsv = { rows: [], problems: [], repeated: 0, ignoredColumns: [] };
  const firstLine = new Map<string, { line: number; key: RecoveryKey }>();
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const names = header.map(columnOf);
      result.ignoredColumns = checkHeader(names, options);
      byComputer = names.includes('computername') && !names.includes('deviceid');
      return names;
    },
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    trim: true,
  });
  // pipe() does not pass a read error on (a missing file): the parser is ended with it, so the loop below sees it.
  createReadStream(path)
    .on('error', (error) => parser.destroy(error))
    .pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Cells; info: { lines: number; error?: CsvError } }>) {
      const line = info.lines;
      if (info.error) {
        result.problems.push({ line, reason: `the row has another number of fields than the header (${info.error.code})` });
        continue;
      }
      if (byComputer && !deviceIdOfName) deviceIdOfName = await options.deviceIdOfName?.();
      let key: RecoveryKey;
      try {
        key = keyOf(record, importedAt, options, deviceIdOfName);
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        result.problems.push({ line, reason: maskedReason(error.message, record) });
        continue;
      }
      const earlier = firstLine.get(key.id);
      if (!earlier) {
        firstLine.set(key.id, { line, key });
        result.rows.push({ line, key });
      } else if (sameKey(earlier.key, key)) {
        result.repeated++;
      } else {
        result.problems.push({ line, reason: `key id ${key.id} is also on line ${earlier.line}, with other values` });
      }
    }
  } catch (error) {
    if (error instanceof KeyCsvError) throw error;
    // csv-parse's messages can quote the text around a malformed field: only its code and line are shown.
    if (error instanceof CsvError)
      throw new KeyCsvError(`malformed CSV (${error.code}) near line ${String((error as CsvError & { lines?: number }).lines ?? '?')}`);
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyCsvError(`cannot read ${path}${code ? ` (${code})` : ''}`);
  }
  return result;
}
