import { createReadStream } from 'node:fs';
import { CsvError, parse } from 'csv-parse';
import { GraphError } from '../errors/graphError';
import type { RecoveryKey } from '../recoveryKeys/model';
import { requireComplete } from '../recoveryKeys/schema';
import { withoutSecrets } from '../redact';

// Reading a CSV export of recovery keys (MBAM, manage-bde, Entra ID's portal, a home-made script).
// Parsing is csv-parse's (RFC 4180 quoting, BOM, CRLF); each row is checked by the recoveryKeys schema,
// the same rules as a PATCH, before anything is stored. No reason given for a row ever holds its key:
// the schema's messages name the property, and every reason is masked all the same.

/** Columns that must be there, lower-cased; header names are matched without regard to case. */
export const REQUIRED_COLUMNS = ['id', 'deviceid', 'key', 'volumetype'] as const;
/** Optional: without it (or with an empty cell) a key is stored as created at the time of the import. */
export const OPTIONAL_COLUMNS = ['createddatetime'] as const;

export interface KeyRow {
  /** Line of the file the row ends on (1-based, the header is line 1). */
  line: number;
  key: RecoveryKey;
}

export interface RowProblem {
  line: number;
  reason: string;
}

export interface KeyFile {
  rows: KeyRow[];
  problems: RowProblem[];
  /** Rows repeating an earlier row exactly (same id, same values): stored once. */
  repeated: number;
  /** Header names other than the five known ones, as given; their cells are not read. */
  ignoredColumns: string[];
}

/** The file cannot be read as a key export at all (unreadable, malformed CSV, a required column missing). */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

type Cells = Record<string, string | undefined>;

/** A reason with anything of the row's password masked: its text as given, and anything shaped like one. */
function maskedReason(message: string, cells: Cells): string {
  const given = cells.key?.trim();
  const masked = given && given.length >= 6 ? message.split(given).join('[key]') : message;
  return withoutSecrets(masked);
}

function keyOf(cells: Cells, importedAt: string): RecoveryKey {
  const cell = (name: string): string | undefined => (cells[name] === '' ? undefined : cells[name]);
  return requireComplete({
    id: cell('id'),
    deviceId: cell('deviceid'),
    key: cell('key'),
    volumeType: cell('volumetype') as RecoveryKey['volumeType'] | undefined,
    createdDateTime: cell('createddatetime') ?? importedAt,
  });
}

const sameKey = (a: RecoveryKey, b: RecoveryKey): boolean =>
  a.key === b.key && a.deviceId === b.deviceId && a.volumeType === b.volumeType && a.createdDateTime === b.createdDateTime;

function checkHeader(names: string[]): string[] {
  const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new KeyFileError(
      `the header has no column ${missing.join(', ')} (it needs id, deviceId, key, volumeType and may have createdDateTime)`,
    );
  }
  const known: readonly string[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS];
  return names.filter((n) => !known.includes(n));
}

/**
 * Reads and checks every row of a CSV file with a header line. Rows are returned normalised (ids
 * lower-case without braces, volume types by name); bad rows as problems with their line numbers.
 * Throws KeyFileError when the file is not a readable key export; its message names the problem and
 * line, never a cell's content.
 */
export async function readKeyFile(path: string): Promise<KeyFile> {
  const importedAt = new Date().toISOString();
  const result: KeyFile = { rows: [], problems: [], repeated: 0, ignoredColumns: [] };
  const firstLine = new Map<string, { line: number; key: RecoveryKey }>();
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const names = header.map((name) => name.trim().toLowerCase());
      result.ignoredColumns = checkHeader(names);
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
      let key: RecoveryKey;
      try {
        key = keyOf(record, importedAt);
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
    if (error instanceof KeyFileError) throw error;
    // csv-parse's messages can quote the text around a malformed field: only its code and line are shown.
    if (error instanceof CsvError)
      throw new KeyFileError(`malformed CSV (${error.code}) near line ${String((error as CsvError & { lines?: number }).lines ?? '?')}`);
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyFileError(`cannot read ${path}${code ? ` (${code})` : ''}`);
  }
  return result;
}
