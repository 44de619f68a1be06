// Edm.DateTimeOffset as this service reads and writes it: every date-time that comes in (request bodies,
// $filter literals) is parsed here, and every one that goes out is written here, in one format.
//
// The range is .NET's DateTimeOffset (what the Graph .NET SDK and Kiota clients parse into):
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z, in UTC after the offset is applied. A value
// outside it, stored once, would make every page that holds it unreadable to those clients.
// Syntax: OData 4.01 ABNF `dateTimeOffsetValue`, with at most 7 fractional digits (.NET's ticks) and an
// offset of at most 14 hours (.NET's limit).

/** The earliest instant a DateTimeOffset holds. */
export const MIN_DATE_TIME_OFFSET = '0001-01-01T00:00:00Z';
/** The latest instant a DateTimeOffset holds. */
export const MAX_DATE_TIME_OFFSET = '9999-12-31T23:59:59.9999999Z';

/** For messages: "between ... and ... (UTC, after applying the offset)". */
export const DATE_TIME_OFFSET_RANGE = `between ${MIN_DATE_TIME_OFFSET} and ${MAX_DATE_TIME_OFFSET} (UTC, after applying the offset)`;

const MIN_MS = Date.parse(MIN_DATE_TIME_OFFSET);
// Milliseconds are all a JavaScript Date keeps; truncating the bound keeps comparisons exact.
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');

const MAX_OFFSET_MINUTES = 14 * 60;

// year-month-dayThh:mm[:ss[.fffffff]](Z|±hh:mm); fields are checked below, not by the pattern.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,7})?)?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** What a date-time literal is: an instant in milliseconds since 1970 (UTC), or why it is not one. */
export type DateTimeOffsetReading = { ms: number } | { problem: 'format' | 'range' };

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/**
 * Reads an Edm.DateTimeOffset literal such as `2026-11-28T09:45:12.345Z` or `2026-11-28T10:45:12+01:00`.
 * Fields are checked as written (2024-02-30, 24:00 and :60 are refused, never rolled over); the instant
 * must fall in .NET's DateTimeOffset range once the offset is applied.
 */
export function readDateTimeOffset(text: string): DateTimeOffsetReading {
  const match = DATE_TIME.exec(text);
  if (!match) return { problem: 'format' };
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(match[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offset = match[8] === undefined ? 0 : (match[8] === '-' ? -1 : 1) * (Number(match[9]) * 60 + Number(match[10]));
  const fieldsExist =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    Number(match[10] ?? 0) <= 59 &&
    Math.abs(offset) <= MAX_OFFSET_MINUTES;
  if (!fieldsExist) return { problem: 'format' };
  const fraction = match[7] === undefined ? 0 : Math.floor(Number(`0${match[7]}`) * 1000);
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0 to 99 as 1900 to 1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, fraction);
  const ms = local.getTime() - offset * 60_000;
  return ms < MIN_MS || ms > MAX_MS ? { problem: 'range' } : { ms };
}

/**
 * The one output form of a date-time: ISO 8601 in UTC with milliseconds, `2026-11-28T09:45:12.345Z`.
 * A value outside the range (only a record stored before the range was enforced can hold one) is written
 * as the nearest bound, so that one old record cannot make a whole page unreadable to .NET clients.
 * Throws on a value that is no instant at all (corrupt storage): that is a defect, not a client's error.
 */
export function writeDateTimeOffset(time: Date | number | string): string {
  const ms = typeof time === 'string' ? Date.parse(time) : typeof time === 'number' ? time : time.getTime();
  if (Number.isNaN(ms)) throw new Error('A stored date-time is not a date-time.');
  return new Date(Math.min(MAX_MS, Math.max(MIN_MS, ms))).toISOString();
}
