import { GraphError } from '../../shared/errors/graphError';
import { refusal } from '../support/refusal';
import { parseKeyFilter } from '../../shared/odata/filter';

const SUPPORTED = "Supported filters: deviceId eq '{guid}', id eq '{guid}', startswith(id,'{hex prefix}')";
const GUID = '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e';

/** Checks that the filter is refused with a message that names the supported forms and contains `detail`. */
function expectRefused(filter: string, detail: string): void {
  const { message } = refusal(() => parseKeyFilter(filter));
  expect(message).toContain(SUPPORTED);
  expect(message).toContain(detail);
}

describe('parseKeyFilter accepts the three supported forms', () => {
  it('parses deviceId eq a GUID', () => {
    expect(parseKeyFilter(`deviceId eq '${GUID}'`)).toEqual({ kind: 'deviceId', deviceId: GUID });
  });

  it('normalises a braced upper-case device GUID to lowercase without braces', () => {
    expect(parseKeyFilter(`deviceId eq '{${GUID.toUpperCase()}}'`)).toEqual({ kind: 'deviceId', deviceId: GUID });
  });

  it('parses id eq a GUID, normalised', () => {
    expect(parseKeyFilter(`id eq '{${GUID.toUpperCase()}}'`)).toEqual({ kind: 'id', id: GUID });
  });

  it('parses startswith(id, prefix) and lowercases the prefix', () => {
    expect(parseKeyFilter("startswith(id,'2D7B3C6A')")).toEqual({ kind: 'idPrefix', prefix: '2d7b3c6a' });
  });

  it('accepts a one-character prefix, a prefix with hyphens and a whole id as prefix', () => {
    expect(parseKeyFilter("startswith(id,'a')")).toEqual({ kind: 'idPrefix', prefix: 'a' });
    expect(parseKeyFilter("startswith(id,'2d7b3c6a-8f0e')")).toEqual({ kind: 'idPrefix', prefix: '2d7b3c6a-8f0e' });
    expect(parseKeyFilter(`startswith(id,'${GUID}')`)).toEqual({ kind: 'idPrefix', prefix: GUID });
  });

  it('allows spaces and tabs around every token', () => {
    expect(parseKeyFilter(" \t startswith \t( id\t,  'abcd' ) \t")).toEqual({ kind: 'idPrefix', prefix: 'abcd' });
    expect(parseKeyFilter(`  deviceId\teq   '${GUID}'  `)).toEqual({ kind: 'deviceId', deviceId: GUID });
  });

  it('allows tokens without spaces where OData does', () => {
    expect(parseKeyFilter(`(id eq'${GUID}')`)).toEqual({ kind: 'id', id: GUID });
  });

  it('allows redundant parentheses around the whole expression', () => {
    expect(parseKeyFilter(`((( deviceId eq '${GUID}' )))`)).toEqual({ kind: 'deviceId', deviceId: GUID });
    expect(parseKeyFilter("(startswith(id,'ab'))")).toEqual({ kind: 'idPrefix', prefix: 'ab' });
  });

  it('accepts a filter of exactly 512 characters', () => {
    const filter = `id eq '${GUID}'`.padEnd(512, ' ');
    expect(parseKeyFilter(filter)).toEqual({ kind: 'id', id: GUID });
  });
});

describe('parseKeyFilter refuses everything else, naming the supported forms', () => {
  it('rejects an empty filter', () => {
    expectRefused('', 'empty');
  });

  it('rejects a filter of only whitespace', () => {
    expectRefused(' \t ', 'empty');
  });

  it('rejects a filter longer than 512 characters even if it is otherwise valid', () => {
    expectRefused(`id eq '${GUID}'`.padEnd(513, ' '), 'longer than 512');
  });

  it.each([
    ['deviceid', 'deviceId'],
    ['DeviceId', 'deviceId'],
    ['DEVICEID', 'deviceId'],
    ['ID', 'id'],
    ['Id', 'id'],
  ])('rejects the property %s with a hint that names are case-sensitive', (written, meant) => {
    expectRefused(`${written} eq '${GUID}'`, `unknown property '${written}'; did you mean '${meant}'?`);
  });

  it.each(['EQ', 'Eq'])('rejects the operator %s with a hint to write eq', (operator) => {
    expectRefused(`deviceId ${operator} '${GUID}'`, `unknown operator '${operator}'; did you mean 'eq'?`);
  });

  it.each(['StartsWith', 'startsWith', 'STARTSWITH'])('rejects the function %s with a hint to write startswith', (name) => {
    expectRefused(`${name}(id,'ab')`, `unknown function '${name}'; did you mean 'startswith'?`);
  });

  it.each(['key', 'volumeType', 'createdDateTime'])('rejects filtering on the property %s', (property) => {
    expectRefused(`${property} eq '1'`, `filtering on '${property}' is not supported`);
  });

  it('rejects an unknown property by name', () => {
    expectRefused("displayName eq 'x'", "unknown property 'displayName'");
  });

  it.each(['ne', 'gt', 'ge', 'lt', 'le'])('rejects the operator %s', (operator) => {
    expectRefused(`deviceId ${operator} '${GUID}'`, `operator '${operator}' is not supported; only 'eq' is`);
  });

  it.each(['and', 'or'])('rejects two conditions joined with %s', (joiner) => {
    expectRefused(`deviceId eq '${GUID}' ${joiner} id eq '${GUID}'`, `'${joiner}' is not supported: give exactly one condition`);
  });

  it('rejects not(...)', () => {
    expectRefused(`not (id eq '${GUID}')`, "operator 'not' is not supported");
  });

  it('rejects not without parentheses', () => {
    expectRefused(`not id eq '${GUID}'`, "operator 'not' is not supported");
  });

  it.each(['contains', 'endswith', 'substringof', 'tolower'])('rejects the function %s', (name) => {
    expectRefused(`${name}(id,'ab')`, `function '${name}' is not supported`);
  });

  it('rejects startswith on deviceId', () => {
    expectRefused("startswith(deviceId,'ab')", "startswith works on 'id' only");
  });

  it('rejects startswith on another property', () => {
    expectRefused("startswith(key,'12')", "filtering on 'key' is not supported");
  });

  it.each([
    ['a non-hex prefix', 'xyz'],
    ['an empty prefix', ''],
    ['a prefix of 37 characters', `${GUID}0`],
    ['a braced prefix', '{2d7b'],
    ['a prefix with a space', '2d7b 3c6a'],
    ['a prefix of Arabic-Indic digits', '١٢٣'],
    ['a prefix of full-width digits', '１２３'],
  ])('rejects startswith with %s', (_case, prefix) => {
    expectRefused(`startswith(id,'${prefix}')`, 'prefix must be 1 to 36 hex digits and hyphens');
  });

  it('rejects startswith with a number instead of a quoted prefix', () => {
    expectRefused('startswith(id,1234)', 'values go in single quotes');
  });

  it('rejects startswith with the arguments the other way round', () => {
    expectRefused("startswith('ab',id)", "expected a property, found the string 'ab'");
  });

  it('rejects startswith with one argument', () => {
    expectRefused('startswith(id)', "expected ','");
  });

  it('rejects startswith without its closing parenthesis', () => {
    expectRefused("startswith(id,'ab'", "expected ')' to close startswith");
  });

  it.each([
    ['a non-GUID', 'abc'],
    ['a GUID with a missing digit', GUID.slice(1)],
    ['a GUID with a trailing newline', `${GUID}\n`],
    ['a GUID with one brace', `{${GUID}`],
    ['an empty value', ''],
  ])('rejects id eq %s', (_case, value) => {
    expectRefused(`id eq '${value}'`, 'id must be compared with a GUID');
  });

  it('rejects deviceId eq a non-GUID, naming deviceId', () => {
    expectRefused("deviceId eq 'laptop-42'", "deviceId must be compared with a GUID such as '");
  });

  it('rejects an unquoted GUID', () => {
    expectRefused(`id eq ${GUID}`, 'values go in single quotes');
  });

  it('rejects a double-quoted value', () => {
    expectRefused(`id eq "${GUID}"`, `unexpected character '"' at position 7; values go in single quotes`);
  });

  it('rejects the value on the left', () => {
    expectRefused(`'${GUID}' eq deviceId`, 'expected a property or startswith');
  });

  it('rejects a comparison without a value', () => {
    expectRefused('id eq', "expected a value in single quotes after 'id eq', found the end of the filter");
  });

  it('rejects a property alone', () => {
    expectRefused('deviceId', "expected 'eq' after the property, found the end of the filter");
  });

  it('rejects an unterminated string', () => {
    expectRefused(`id eq '${GUID}`, 'the string that starts at position 7 has no closing quote');
  });

  it("reads '' as an escaped quote, not the end of the string", () => {
    expectRefused("id eq 'it''s'", "not 'it's'");
    expectRefused("id eq 'it''", 'no closing quote');
  });

  it('rejects tokens after the condition', () => {
    expectRefused(`id eq '${GUID}' )`, "unexpected ')' at position");
    expectRefused("startswith(id,'ab') eq true", "unexpected 'eq' at position 21 after the end of the condition");
  });

  it('rejects an unclosed parenthesis', () => {
    expectRefused(`(id eq '${GUID}'`, "expected ')' to close the '(' at position 1");
  });

  it('rejects a property path', () => {
    expectRefused(`device/id eq '${GUID}'`, "unexpected character '/'");
  });
});

describe('parseKeyFilter on hostile input', () => {
  it.each([
    ['a NUL byte between tokens', `id\u0000eq '${GUID}'`],
    ['a NUL byte in the value', `id eq '${GUID}\u0000'`],
    ['a newline between tokens', `id\neq '${GUID}'`],
    ['a carriage return', `id eq '${GUID}'\r`],
    ['a bell character', '\u0007'],
    ['a right-to-left override', `id eq '\u202e${GUID}'`],
    ['Arabic-Indic digits outside quotes', 'id eq ١٢٣'],
    ['a lone surrogate', 'id eq \ud800'],
    ['an emoji', 'id eq \u{1f511}'],
    ['a percent-encoded quote that was not decoded', `id eq %27${GUID}%27`],
  ])('refuses %s with a 400', (_case, filter) => {
    expect(refusal(() => parseKeyFilter(filter)).message).toContain(SUPPORTED);
  });

  it('never repeats control characters in its message', () => {
    const { message } = refusal(() => parseKeyFilter(`id eq '\u0000\u001b[31m\u202e'`));
    expect(message).not.toMatch(/[^\x20-\x7e]/);
    expect(message).toContain('\\u0000');
  });

  it('shortens a long value in its message', () => {
    const { message } = refusal(() => parseKeyFilter(`id eq '${'a'.repeat(400)}'`));
    expect(message).not.toContain('a'.repeat(41));
  });

  it('refuses a megabyte of input as too long', () => {
    expectRefused(`id eq '${'a'.repeat(1_000_000)}'`, 'longer than 512');
  });

  it('refuses deeply nested parentheses', () => {
    expectRefused(`${'('.repeat(256)}${')'.repeat(256)}`, "expected a property or startswith, found ')'");
    expectRefused('('.repeat(512), 'expected a property or startswith, found the end of the filter');
  });

  it('throws only 400 GraphErrors on random combinations of tokens and characters', () => {
    const pieces = [
      'id',
      'deviceId',
      'eq',
      'EQ',
      'startswith',
      '(',
      ')',
      ',',
      "'",
      "''",
      ' ',
      GUID,
      'ab',
      'and',
      '\u0000',
      '١',
      '{',
      '}',
      '-',
      'x',
    ];
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const filter = Array.from({ length: 1 + random(12) }, () => pieces[random(pieces.length)]).join('');
      try {
        const parsed = parseKeyFilter(filter);
        expect(['deviceId', 'id', 'idPrefix']).toContain(parsed.kind);
      } catch (error) {
        expect(error).toBeInstanceOf(GraphError);
        expect((error as GraphError).status).toBe(400);
      }
    }
  });
});
