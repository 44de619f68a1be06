import { badRequest, type GraphError } from '../http/graphError';
import { DATE_TIME_OFFSET_RANGE, readDateTimeOffset } from '../odata/dateTimeOffset';
import { shown } from '../odata/filter';
import { DEFAULT_PAGE_SIZE, parseSkipToken, parseTop, singleOptions, systemQueryOptions } from '../odata/listQuery';
import { normalizeGuid } from '../recoveryKeys/schema';
import { ACTIVITY_NAMES } from './model';
import type { AuditQuery } from './store';

// $filter of GET /auditLogs/directoryAudits, the subset of Graph's that the AuditLog layout answers
// with a key range or within one:
//
//   filter    = condition *( "and" condition )
//   condition = "activityDateTime" ("ge" | "le") datetime
//             | "activityDisplayName" "eq" string
//             | "targetResources/any(" name ":" name "/id" "eq" string ")"

export const SUPPORTED_AUDIT_FILTERS =
  "Supported: activityDateTime ge|le {ISO 8601 date and time with Z or an offset}, activityDisplayName eq '{name}', targetResources/any(t:t/id eq '{guid}'), joined with 'and'";

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
    throw refuse(`unexpected ${shown(text.slice(at, at + 10))} at position ${at + 1}`);
  }
  tokens.push({ kind: 'end', text: '', at });
  return tokens;
}

class Parser {
  private index = 0;
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
    if (query.from && query.to && query.from > query.to) throw refuse('activityDateTime ge is later than activityDateTime le');
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
    if (operator !== 'ge' && operator !== 'le') throw refuse(`activityDateTime takes 'ge' or 'le', not ${shown(operator)}`);
    const token = this.take('datetime');
    const reading = readDateTimeOffset(token.text);
    if ('problem' in reading) {
      throw refuse(reading.problem === 'range' ? `activityDateTime must be compared with a date and time ${DATE_TIME_OFFSET_RANGE}` : `${shown(token.text)} is not a valid date and time`);
    }
    this.once(query, operator === 'ge' ? 'from' : 'to', new Date(reading.ms));
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
