import { badRequest, type GraphError } from '../http/graphError';
import { shown } from '../odata/filter';
import { DEFAULT_PAGE_SIZE, parseSkipToken, parseTop, singleOptions } from '../odata/listQuery';
import { normalizeGuid } from '../recoveryKeys/schema';
import { ACTIVITY_NAMES } from './model';
import type { AuditQuery } from './store';

// $filter of GET /auditLogs/directoryAudits, the subset of Graph's that the AuditLog layout answers
// with a key range or within one:
//
//   filter    = condition *( "and" condition )
//   condition = "activityDateTime" ("ge" | "gt" | "le" | "lt") datetime
//             | "activityDisplayName" "eq" string
//             | "targetResources/any(" name ":" name "/id" "eq" string ")"

export const SUPPORTED_AUDIT_FILTERS =
  "Supported: activityDateTime ge|gt|le|lt {ISO 8601 UTC}, activityDisplayName eq '{name}', targetResources/any(t:t/id eq '{guid}'), joined with 'and'";

const MAX_FILTER_LENGTH = 512;

function refuse(problem: string): GraphError {
  return badRequest(`Invalid $filter: ${problem}. ${SUPPORTED_AUDIT_FILTERS}.`);
}

type Token = { kind: 'word' | 'string' | 'datetime' | 'punct'; text: string; at: number } | { kind: 'end'; text: ''; at: number };

const LEXEMES: [Token['kind'], RegExp][] = [
  ['datetime', /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?Z/y],
  ['word', /[A-Za-z_][A-Za-z0-9_]*/y],
  ['string', /'(?:[^']|'')*'/y],
  ['punct', /[()/:]/y],
];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  outer: while (at < text.length) {
    if (text[at] === ' ') {
      at += 1;
      continue;
    }
    for (const [kind, pattern] of LEXEMES) {
      pattern.lastIndex = at;
      const match = pattern.exec(text);
      if (match) {
        const raw = match[0];
        tokens.push({ kind, text: kind === 'string' ? raw.slice(1, -1).replace(/''/g, "'") : raw, at } as Token);
        at += raw.length;
        continue outer;
      }
    }
    throw refuse(`unexpected ${shown(text.slice(at, at + 10))} at position ${at + 1}`);
  }
  tokens.push({ kind: 'end', text: '', at });
  return tokens;
}

/**
 * An instant as the filter wrote it: whole milliseconds, and whether finer digits (OData allows seven
 * fractional digits) put it strictly after them. undefined if it is no real date (2026-02-30, 24:00).
 */
interface Instant {
  ms: number;
  finer: boolean;
}

function parseInstant(text: string): Instant | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?Z$/.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second = '0', fraction = ''] = match;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), Number(fraction.padEnd(3, '0').slice(0, 3)));
  // A rolled-over date (February 30th becoming March 2nd) is no date at all.
  const roundTrip = date.toISOString();
  if (roundTrip.slice(0, 4) !== year || Number(roundTrip.slice(5, 7)) !== Number(month) || Number(roundTrip.slice(8, 10)) !== Number(day)) return undefined;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  return { ms: date.getTime(), finer: /[1-9]/.test(fraction.slice(3)) };
}

const DATE_OPERATORS = ['ge', 'gt', 'le', 'lt'] as const;
type DateOperator = (typeof DATE_OPERATORS)[number];
const isDateOperator = (text: string): text is DateOperator => (DATE_OPERATORS as readonly string[]).includes(text);

/**
 * The inclusive whole-millisecond bound that selects exactly the records (stamped to the millisecond)
 * the operator asks for: `ge t` is from ceil(t), `gt t` from floor(t) + 1 ms, `le t` up to floor(t),
 * `lt t` up to ceil(t) - 1 ms.
 */
function boundOf(operator: DateOperator, { ms, finer }: Instant): Date {
  const ceil = ms + (finer ? 1 : 0);
  switch (operator) {
    case 'ge':
      return new Date(ceil);
    case 'gt':
      return new Date(ms + 1);
    case 'le':
      return new Date(ms);
    case 'lt':
      return new Date(ceil - 1);
  }
}

class Parser {
  private index = 0;
  /** The lower and upper instants as written, to refuse a range whose ends are the wrong way round. */
  private readonly given: { from?: Instant; to?: Instant } = {};
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private take(kind: Token['kind'], text?: string): Token {
    const token = this.peek();
    if (token.kind !== kind || (text !== undefined && token.text !== text)) {
      const found = token.kind === 'end' ? 'the end of the filter' : shown(token.text);
      throw refuse(`expected ${text ? `'${text}'` : `a ${kind}`} at position ${token.at + 1}, found ${found}`);
    }
    this.index += 1;
    return token;
  }

  parse(): AuditQuery {
    const query: AuditQuery = {};
    this.condition(query);
    while (this.peek().kind !== 'end') {
      this.take('word', 'and');
      this.condition(query);
    }
    const { from, to } = this.given;
    // Ends the wrong way round are a mistake worth a 400; ends that meet (gt t and lt t) are just an empty range.
    if (from && to && from.ms > to.ms) {
      throw refuse('activityDateTime ge is later than activityDateTime le');
    }
    return query;
  }

  private condition(query: AuditQuery): void {
    const property = this.take('word');
    switch (property.text) {
      case 'activityDateTime':
        return this.dateBound(query);
      case 'activityDisplayName': {
        this.take('word', 'eq');
        const name = this.take('string').text;
        if (!ACTIVITY_NAMES.includes(name)) throw refuse(`activityDisplayName must be one of ${ACTIVITY_NAMES.map((n) => `'${n}'`).join(', ')}`);
        return this.once(query, 'activity', name);
      }
      case 'targetResources':
        return this.once(query, 'targetId', this.anyTargetId());
      default:
        throw refuse(`filtering on ${shown(property.text)} is not supported`);
    }
  }

  private dateBound(query: AuditQuery): void {
    const operator = this.take('word').text;
    if (!isDateOperator(operator)) throw refuse(`activityDateTime takes 'ge', 'gt', 'le' or 'lt', not ${shown(operator)}`);
    const token = this.take('datetime');
    const instant = parseInstant(token.text);
    if (!instant) throw refuse(`${shown(token.text)} is not a valid date and time`);
    const lower = operator === 'ge' || operator === 'gt';
    this.once(query, lower ? 'from' : 'to', boundOf(operator, instant));
    this.given[lower ? 'from' : 'to'] = instant;
  }

  private anyTargetId(): string {
    this.take('punct', '/');
    this.take('word', 'any');
    this.take('punct', '(');
    const variable = this.take('word').text;
    this.take('punct', ':');
    this.take('word', variable);
    this.take('punct', '/');
    this.take('word', 'id');
    this.take('word', 'eq');
    const value = this.take('string').text;
    this.take('punct', ')');
    const id = normalizeGuid(value);
    if (!id) throw refuse(`targetResources id must be a GUID, not ${shown(value)}`);
    return id;
  }

  private once<K extends keyof AuditQuery>(query: AuditQuery, key: K, value: NonNullable<AuditQuery[K]>): void {
    if (query[key] !== undefined) throw refuse('each condition may be given once');
    query[key] = value;
  }
}

export function parseAuditFilter(text: string): AuditQuery {
  if (text.trim() === '') throw refuse('the filter is empty');
  if (text.length > MAX_FILTER_LENGTH) throw refuse(`the filter is longer than ${MAX_FILTER_LENGTH} characters`);
  return new Parser(tokenize(text)).parse();
}

export interface AuditListQuery {
  filter: AuditQuery;
  top: number;
  skipToken?: string;
}

const AUDIT_OPTIONS = ['$filter', '$top', '$skiptoken'] as const;

/** The options of GET /auditLogs/directoryAudits: $filter, $top and $skiptoken, each at most once. */
export function parseAuditListQuery(query: URLSearchParams): AuditListQuery {
  const options = singleOptions(query, AUDIT_OPTIONS, 'when listing directory audits');
  const filter = options.get('$filter');
  const top = options.get('$top');
  const skipToken = options.get('$skiptoken');
  return {
    filter: filter === undefined ? {} : parseAuditFilter(filter),
    top: top === undefined ? DEFAULT_PAGE_SIZE : parseTop(top),
    ...(skipToken !== undefined && { skipToken: parseSkipToken(skipToken) }),
  };
}
