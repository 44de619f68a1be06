import { badRequest, type GraphError } from '../errors/graphError';
import { DATE_TIME_OFFSET_RANGE, readDateTimeOffset } from '../odata/dateTimeOffset';
import { DEFAULT_PAGE_SIZE, parseSkipToken, parseTop, singleOptions, systemQueryOptions } from '../odata/listQuery';
import { normalizeGuid } from '../text/normalizeGuid';
import { quoteClientText } from '../text/quoteClientText';
import { ACTIVITY_NAMES } from './model';
import type { AuditQuery } from './store';

// $filter of GET /auditLogs/directoryAudits, the subset of Graph's that the AuditLog layout answers
// with a key range or within one:
//
//   filter    = condition *( "and" condition )
//   condition = "activityDateTime" ("ge" | "gt" | "le" | "lt") datetime
//             | "activityDisplayName" "eq" string
//             | "targetResources/any(" name ":" name "/id" "eq" string ")"
//             | "initiatedBy/user/id" "eq" string | "initiatedBy/app/servicePrincipalId" "eq" string

export const SUPPORTED_AUDIT_FILTERS =
  "Supported: activityDateTime ge|gt|le|lt {ISO 8601 date and time with Z or an offset}, activityDisplayName eq '{name}', targetResources/any(t:t/id eq '{guid}'), initiatedBy/user/id eq '{guid}', initiatedBy/app/servicePrincipalId eq '{guid}', joined with 'and'";

const MAX_FILTER_LENGTH = 512;

function refuse(problem: string): GraphError {
  return badRequest(`Invalid $filter: ${problem}. ${SUPPORTED_AUDIT_FILTERS}.`);
}

type Token = { kind: 'word' | 'string' | 'datetime' | 'punct'; text: string; at: number } | { kind: 'end'; text: ''; at: number };

const LEXEMES: [Token['kind'], RegExp][] = [
  // Any zone: 'Z' or an offset (a '+' must travel as %2B: in a query string a bare '+' is a space).
  ['datetime', /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})/y],
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
    throw refuse(`unexpected ${quoteClientText(text.slice(at, at + 10))} at position ${at + 1}`);
  }
  tokens.push({ kind: 'end', text: '', at });
  return tokens;
}

/**
 * An instant as the filter wrote it: whole milliseconds, and whether finer digits (OData allows seven
 * fractional digits) put it strictly after them.
 */
interface Instant {
  ms: number;
  finer: boolean;
}

/** The instant of a filter's date and time (any zone, within Edm.DateTimeOffset's range: odata/dateTimeOffset.ts); 400 otherwise. */
function parseInstant(text: string): Instant {
  const reading = readDateTimeOffset(text);
  if ('problem' in reading) {
    throw refuse(
      reading.problem === 'range'
        ? `activityDateTime must be compared with a date and time ${DATE_TIME_OFFSET_RANGE}`
        : `${quoteClientText(text)} is not a valid date and time`,
    );
  }
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
  return { ms: reading.ms, finer: /[1-9]/.test(fraction.slice(3)) };
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
    return this.tokens[this.index];
  }

  private take(kind: Token['kind'], text?: string): Token {
    const token = this.peek();
    if (token.kind !== kind || (text !== undefined && token.text !== text)) {
      const found = token.kind === 'end' ? 'the end of the filter' : quoteClientText(token.text);
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
        if (!ACTIVITY_NAMES.includes(name))
          throw refuse(`activityDisplayName must be one of ${ACTIVITY_NAMES.map((n) => `'${n}'`).join(', ')}`);
        return this.once(query, 'activity', name);
      }
      case 'targetResources':
        return this.once(query, 'targetId', this.anyTargetId());
      case 'initiatedBy':
        return this.once(query, 'initiatorId', this.initiatorId());
      default:
        throw refuse(`filtering on ${quoteClientText(property.text)} is not supported`);
    }
  }

  private dateBound(query: AuditQuery): void {
    const operator = this.take('word').text;
    if (!isDateOperator(operator)) throw refuse(`activityDateTime takes 'ge', 'gt', 'le' or 'lt', not ${quoteClientText(operator)}`);
    const token = this.take('datetime');
    const instant = parseInstant(token.text);
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
    if (!id) throw refuse(`targetResources id must be a GUID, not ${quoteClientText(value)}`);
    return id;
  }

  /** `/user/id eq '{guid}'` or `/app/servicePrincipalId eq '{guid}'`: both the caller's object id. */
  private initiatorId(): string {
    this.take('punct', '/');
    const kind = this.take('word').text;
    this.take('punct', '/');
    const property = this.take('word').text;
    if (!((kind === 'user' && property === 'id') || (kind === 'app' && property === 'servicePrincipalId'))) {
      throw refuse(`filtering on initiatedBy/${quoteClientText(kind)}/${quoteClientText(property)} is not supported`);
    }
    this.take('word', 'eq');
    const value = this.take('string').text;
    const id = normalizeGuid(value);
    if (!id) throw refuse(`initiatedBy/${kind}/${property} must be a GUID, not ${quoteClientText(value)}`);
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

/** The options of GET /auditLogs/directoryAudits: $filter, $top and $skiptoken, each at most once ('$' optional on /beta). */
export function parseAuditListQuery(query: URLSearchParams, dollarOptional = false): AuditListQuery {
  const options = singleOptions(systemQueryOptions(query, dollarOptional), AUDIT_OPTIONS, 'when listing directory audits');
  const filter = options.get('$filter');
  const top = options.get('$top');
  const skipToken = options.get('$skiptoken');
  return {
    filter: filter === undefined ? {} : parseAuditFilter(filter),
    top: top === undefined ? DEFAULT_PAGE_SIZE : parseTop(top),
    ...(skipToken !== undefined && { skipToken: parseSkipToken(skipToken) }),
  };
}
