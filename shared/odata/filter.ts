import { badRequest, type GraphError } from '../errors/graphError';
import { normalizeGuid } from '../text/normalizeGuid';
import { quoteClientText } from '../text/quoteClientText';

// The $filter of the recovery-key list: a tokenizer and a recursive-descent parser for the three forms
// the store can answer without a table scan. Everything else is refused with a message naming them.
//
//   filter     = [BWS] expression [BWS] end
//   expression = "(" expression ")" | comparison | startswith
//   comparison = ("deviceId" | "id") "eq" string
//   startswith = "startswith" "(" "id" "," string ")"
//   string     = "'" *( any character except "'" | "''" ) "'"
//
// Names and keywords are case-sensitive, as in OData; a case slip gets a "did you mean" instead of a bare no.

export type KeyFilter = { kind: 'deviceId'; deviceId: string } | { kind: 'id'; id: string } | { kind: 'idPrefix'; prefix: string };

export const SUPPORTED_FILTERS = "Supported filters: deviceId eq '{guid}', id eq '{guid}', startswith(id,'{hex prefix}')";

/** Far above any supported filter (the longest is about 60 characters); bounds the parser's work. */
export const MAX_FILTER_LENGTH = 512;

/** A whole key id is 36 characters; a longer prefix can match nothing. */
export const MAX_PREFIX_LENGTH = 36;

const EXAMPLE_GUID = '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e';

// Words that readers may reach for, each refused with a message that names it rather than "unknown".
const OPERATORS = ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'and', 'or', 'not', 'has', 'in', 'add', 'sub', 'mul', 'div', 'divby', 'mod'];
const UNFILTERABLE_PROPERTIES = ['key', 'volumeType', 'createdDateTime'];

/** The candidate that `word` matches but for case, if any: 'deviceid' -> 'deviceId'. Also used by the other parsers. */
export function differentCase(word: string, candidates: readonly string[]): string | undefined {
  return candidates.find((candidate) => candidate !== word && candidate.toLowerCase() === word.toLowerCase());
}

function refuse(problem: string): GraphError {
  return badRequest(`Invalid $filter: ${problem}. ${SUPPORTED_FILTERS}.`);
}

// ---- tokens -------------------------------------------------------------------------------------------------

type Punctuation = '(' | ')' | ',';

type Token =
  | { type: 'identifier'; text: string; at: number }
  | { type: 'eq'; at: number }
  | { type: 'string'; value: string; at: number }
  | { type: Punctuation; at: number }
  | { type: 'end'; at: number };

interface Read {
  token: Token;
  next: number;
}

// OData's BWS is space and horizontal tab only; anything else between tokens is refused, not skipped.
const WHITESPACE = new Set([' ', '\t']);
const PUNCTUATION = new Set<string>(['(', ')', ',']);
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;

const CHARACTER_HINTS: Readonly<Record<string, string>> = {
  '"': '; values go in single quotes',
  '{': '; GUIDs go in single quotes',
};

function describeCharacter(text: string, at: number): string {
  const c = text[at];
  const hint = CHARACTER_HINTS[c] ?? (/[0-9-]/.test(c) ? '; values go in single quotes' : '');
  return `unexpected character ${quoteClientText(c)} at position ${at + 1}${hint}`;
}

function readString(text: string, start: number): Read {
  let value = '';
  let at = start + 1;
  while (at < text.length) {
    const c = text[at];
    if (c !== "'") {
      value += c;
      at += 1;
    } else if (text[at + 1] === "'") {
      value += "'";
      at += 2;
    } else {
      return { token: { type: 'string', value, at: start }, next: at + 1 };
    }
  }
  throw refuse(`the string that starts at position ${start + 1} has no closing quote (write '' for a quote inside it)`);
}

function readWord(text: string, start: number): Read | undefined {
  IDENTIFIER.lastIndex = start;
  const match = IDENTIFIER.exec(text);
  if (!match) return undefined;
  const word = match[0];
  const token: Token = word === 'eq' ? { type: 'eq', at: start } : { type: 'identifier', text: word, at: start };
  return { token, next: start + word.length };
}

function readToken(text: string, at: number): Read {
  const c = text[at];
  if (PUNCTUATION.has(c)) return { token: { type: c as Punctuation, at }, next: at + 1 };
  if (c === "'") return readString(text, at);
  const word = readWord(text, at);
  if (word) return word;
  throw refuse(describeCharacter(text, at));
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    if (WHITESPACE.has(text[at])) {
      at += 1;
      continue;
    }
    const { token, next } = readToken(text, at);
    tokens.push(token);
    at = next;
  }
  tokens.push({ type: 'end', at });
  return tokens;
}

function describeToken(token: Token): string {
  switch (token.type) {
    case 'identifier':
      return quoteClientText(token.text);
    case 'string':
      return `the string ${quoteClientText(token.value)}`;
    case 'end':
      return 'the end of the filter';
    default:
      return `'${token.type}'`;
  }
}

// ---- what a word is not -------------------------------------------------------------------------------------

/** Why `word` cannot stand where a property of `allowed` must: a case slip, an operator, or a property we don't filter on. */
function propertyProblem(word: string, allowed: readonly string[]): string {
  const meant = differentCase(word, allowed);
  if (meant) return `unknown property ${quoteClientText(word)}; did you mean '${meant}'? (names are case-sensitive)`;
  if (OPERATORS.includes(word)) return `operator '${word}' is not supported here`;
  if (UNFILTERABLE_PROPERTIES.includes(word)) return `filtering on '${word}' is not supported`;
  return `unknown property ${quoteClientText(word)}`;
}

function operatorProblem(token: Token): string {
  if (token.type === 'identifier') {
    if (token.text.toLowerCase() === 'eq')
      return `unknown operator ${quoteClientText(token.text)}; did you mean 'eq'? (operators are case-sensitive)`;
    if (OPERATORS.includes(token.text)) return `operator '${token.text}' is not supported; only 'eq' is`;
  }
  return `expected 'eq' after the property, found ${describeToken(token)}`;
}

function functionProblem(name: string): string {
  if (name.toLowerCase() === 'startswith')
    return `unknown function ${quoteClientText(name)}; did you mean 'startswith'? (names are case-sensitive)`;
  if (OPERATORS.includes(name)) return `operator '${name}' is not supported`;
  return `function ${quoteClientText(name)} is not supported; only startswith(id,...) is`;
}

function trailingProblem(token: Token): string {
  if (token.type === 'identifier' && OPERATORS.includes(token.text)) {
    return `'${token.text}' is not supported: give exactly one condition`;
  }
  return `unexpected ${describeToken(token)} at position ${token.at + 1} after the end of the condition`;
}

// ---- values -------------------------------------------------------------------------------------------------

const PREFIX = /^[0-9a-fA-F-]+$/;

function guidValue(property: string, value: string): string {
  const guid = normalizeGuid(value);
  if (guid === undefined) throw refuse(`${property} must be compared with a GUID such as '${EXAMPLE_GUID}', not ${quoteClientText(value)}`);
  return guid;
}

function prefixValue(value: string): string {
  if (value.length < 1 || value.length > MAX_PREFIX_LENGTH || !PREFIX.test(value)) {
    throw refuse(
      `the startswith prefix must be 1 to ${MAX_PREFIX_LENGTH} hex digits and hyphens, such as the first 8 characters of the recovery key ID, not ${quoteClientText(value)}`,
    );
  }
  return value.toLowerCase();
}

// ---- parser -------------------------------------------------------------------------------------------------

class Parser {
  private index = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  filter(): KeyFilter {
    if (this.peek().type === 'end') throw refuse('it is empty');
    const filter = this.expression();
    const rest = this.peek();
    if (rest.type !== 'end') throw refuse(trailingProblem(rest));
    return filter;
  }

  private peek(ahead = 0): Token {
    // The 'end' token is last, so a look past it sees 'end' again.
    return this.tokens[Math.min(this.index + ahead, this.tokens.length - 1)];
  }

  private take(): Token {
    const token = this.peek();
    if (token.type !== 'end') this.index += 1;
    return token;
  }

  private expect(type: Punctuation, where: string): void {
    const token = this.take();
    if (token.type !== type) throw refuse(`expected '${type}' ${where}, found ${describeToken(token)}`);
  }

  private expression(): KeyFilter {
    const token = this.peek();
    if (token.type === '(') {
      this.take();
      const inner = this.expression();
      this.expect(')', `to close the '(' at position ${token.at + 1}`);
      return inner;
    }
    if (token.type !== 'identifier') throw refuse(`expected a property or startswith, found ${describeToken(token)}`);
    return this.peek(1).type === '(' ? this.startswith() : this.comparison();
  }

  private identifier(what: string): string {
    const token = this.take();
    if (token.type !== 'identifier') throw refuse(`expected ${what}, found ${describeToken(token)}`);
    return token.text;
  }

  private property(allowed: readonly string[]): string {
    const name = this.identifier('a property');
    if (!allowed.includes(name)) throw refuse(propertyProblem(name, allowed));
    return name;
  }

  private string(after: string): string {
    const token = this.take();
    if (token.type !== 'string') throw refuse(`expected a value in single quotes ${after}, found ${describeToken(token)}`);
    return token.value;
  }

  private comparison(): KeyFilter {
    const property = this.property(['deviceId', 'id']);
    const operator = this.take();
    if (operator.type !== 'eq') throw refuse(operatorProblem(operator));
    const value = guidValue(property, this.string(`after '${property} eq'`));
    return property === 'deviceId' ? { kind: 'deviceId', deviceId: value } : { kind: 'id', id: value };
  }

  private startswith(): KeyFilter {
    const name = this.identifier('a function');
    if (name !== 'startswith') throw refuse(functionProblem(name));
    this.expect('(', "after 'startswith'");
    const argument = this.peek();
    if (argument.type === 'identifier' && argument.text === 'deviceId') {
      throw refuse("startswith works on 'id' only; for a device use deviceId eq '{guid}'");
    }
    this.property(['id']);
    this.expect(',', "after 'startswith(id'");
    const prefix = prefixValue(this.string("as startswith's second argument"));
    this.expect(')', 'to close startswith');
    return { kind: 'idPrefix', prefix };
  }
}

/**
 * The recovery-key list's $filter as one of the three supported forms, GUIDs and prefix lowercased.
 * Refuses everything else with a 400 (a GraphError, never anything else) whose message names the forms.
 */
export function parseKeyFilter(text: string): KeyFilter {
  if (text.length > MAX_FILTER_LENGTH) throw refuse(`it is longer than ${MAX_FILTER_LENGTH} characters`);
  return new Parser(tokenize(text)).filter();
}
