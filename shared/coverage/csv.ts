import type { CoverageRow } from './model';

// The report's rows as CSV (RFC 4180), safe to open in a spreadsheet: a cell that a spreadsheet would
// read as a formula (starting with =, +, -, @, a tab or a carriage return: OWASP's CSV injection list)
// is prefixed with an apostrophe, which makes it text. A leaf: the console's download uses it too.

export const CSV_COLUMNS = [
  'deviceId',
  'displayName',
  'userPrincipalName',
  'state',
  'flags',
  'lastReportedDateTime',
  'liveKeyCount',
  'missingKeyIds',
  'staleKeyIds',
  'overdueKeyIds',
] as const;

const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell: neutralized if it could be a formula, quoted if it holds a comma, a quote or a line break. */
export function csvCell(value: string | number | undefined): string {
  let text = value === undefined ? '' : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

export function csvLine(row: CoverageRow): string {
  const cells: Record<(typeof CSV_COLUMNS)[number], string | number | undefined> = {
    deviceId: row.deviceId,
    displayName: row.displayName,
    userPrincipalName: row.userPrincipalName,
    state: row.state,
    flags: row.flags.join(' '),
    lastReportedDateTime: row.lastReportedDateTime,
    liveKeyCount: row.liveKeyCount,
    missingKeyIds: row.missingKeyIds.join(' '),
    staleKeyIds: row.staleKeyIds.join(' '),
    overdueKeyIds: row.overdueKeyIds.join(' '),
  };
  return `${CSV_COLUMNS.map((column) => csvCell(cells[column])).join(',')}\r\n`;
}
