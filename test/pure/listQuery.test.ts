import { refusal } from '../support/refusal';
import { DEFAULT_PAGE_SIZE, MAX_TOP, parseItemSelect, parseListQuery } from '../../shared/odata/listQuery';

const GUID = '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e';
const LIST_SUPPORTED = 'Supported: $filter, $top, $select, $skiptoken.';
const ITEM_SUPPORTED = 'Supported: $select, deviceId.';
const SELECTABLE = 'Selectable: id, createdDateTime, deviceId, volumeType.';
const SKIP_TOKEN_INVALID = 'The $skiptoken is invalid or was altered; start again from the first page.';

const list = (query: string) => parseListQuery(new URLSearchParams(query));
const item = (query: string) => parseItemSelect(new URLSearchParams(query));
const listRefusal = (query: string): string => refusal(() => list(query)).message;
const itemRefusal = (query: string): string => refusal(() => item(query)).message;

describe('parseListQuery', () => {
  it('pages by 100 up to 1000', () => {
    expect({ DEFAULT_PAGE_SIZE, MAX_TOP }).toEqual({ DEFAULT_PAGE_SIZE: 100, MAX_TOP: 1000 });
  });

  it('gives only the default page size when there are no options', () => {
    expect(list('')).toEqual({ top: 100 });
  });

  it('parses every option together', () => {
    expect(list(`$filter=deviceId eq '${GUID.toUpperCase()}'&$top=50&$select=id,deviceId&$skiptoken=abc_-123`)).toEqual({
      filter: { kind: 'deviceId', deviceId: GUID },
      top: 50,
      select: ['id', 'deviceId'],
      skipToken: 'abc_-123',
    });
  });

  it('reads a percent-encoded filter, and + as a space, as a browser sends them', () => {
    expect(list('$filter=startswith(id%2C%27ABCD1234%27)').filter).toEqual({ kind: 'idPrefix', prefix: 'abcd1234' });
    expect(list(`$filter=id+eq+%27${GUID}%27`).filter).toEqual({ kind: 'id', id: GUID });
  });

  it('refuses a malformed filter with the supported filters', () => {
    expect(listRefusal("$filter=volumeType eq '1'")).toContain("Supported filters: deviceId eq '{guid}'");
  });

  it('refuses an empty filter', () => {
    expect(listRefusal('$filter=')).toContain('Invalid $filter: it is empty');
  });

  describe('$top', () => {
    it.each([
      ['1', 1],
      ['1000', 1000],
      ['25', 25],
      ['0050', 50],
    ])('accepts %s', (text, top) => {
      expect(list(`$top=${text}`).top).toBe(top);
    });

    it.each([
      ['zero', '0'],
      ['above the maximum', '1001'],
      ['negative', '-1'],
      ['with a plus sign', '%2B5'],
      ['in exponent notation', '1e2'],
      ['in hexadecimal', '0x10'],
      ['a fraction', '1.5'],
      ['with a leading space', '%205'],
      ['with a trailing space', '5%20'],
      ['empty', ''],
      ['not a number', 'all'],
      ['in Arabic-Indic digits', '١٠'],
      ['in full-width digits', '１０'],
      ['a 400-digit number', '9'.repeat(400)],
      ['with a NUL byte', '5%00'],
    ])('refuses a $top that is %s', (_case, text) => {
      expect(listRefusal(`$top=${text}`)).toContain('$top must be a whole number from 1 to 1000');
    });
  });

  describe('$select', () => {
    it('trims whitespace around names', () => {
      expect(list('$select= id ,\tvolumeType ').select).toEqual(['id', 'volumeType']);
    });

    it('tolerates duplicates and keeps first-mention order', () => {
      expect(list('$select=deviceId,id,deviceId,createdDateTime,id').select).toEqual(['deviceId', 'id', 'createdDateTime']);
    });

    it('accepts every selectable property', () => {
      expect(list('$select=id,createdDateTime,deviceId,volumeType').select).toEqual(['id', 'createdDateTime', 'deviceId', 'volumeType']);
    });

    it('refuses key on the list and says how to read a key', () => {
      const message = listRefusal('$select=id,key');
      expect(message).toContain('the recovery key can only be read one at a time, with GET .../recoveryKeys/{id}?$select=key');
      expect(message).toContain(SELECTABLE);
    });

    it('refuses an unknown property by name', () => {
      const message = listRefusal('$select=id,displayName');
      expect(message).toContain("'displayName' is not a property that can be selected");
      expect(message).toContain(SELECTABLE);
    });

    it('refuses a property written in the wrong case with a hint', () => {
      expect(listRefusal('$select=DeviceId')).toContain("unknown property 'DeviceId'; did you mean 'deviceId'?");
    });

    it.each([
      ['empty', ''],
      ['a trailing comma', 'id,'],
      ['two commas', 'id,,deviceId'],
    ])('refuses a $select that is %s', (_case, text) => {
      expect(listRefusal(`$select=${text}`)).toContain(`$select has an empty property name. ${SELECTABLE}`);
    });

    it('refuses $select=*', () => {
      expect(listRefusal('$select=*')).toContain(`'*' is not a property that can be selected. ${SELECTABLE}`);
    });

    it('shows a hostile property name escaped and shortened', () => {
      const message = listRefusal(`$select=${encodeURIComponent('\u0000\u202e' + 'x'.repeat(100))}`);
      expect(message).toContain("'\\u0000\\u202exxx");
      expect(message).not.toMatch(/[^\x20-\x7e]/);
      expect(message).not.toContain('x'.repeat(41));
    });
  });

  describe('$skiptoken', () => {
    it('keeps the token as sent, for decodeSkipToken to check', () => {
      expect(list('$skiptoken=AQ-_not-decoded-here').skipToken).toBe('AQ-_not-decoded-here');
    });

    it('refuses an empty token rather than restarting the list', () => {
      expect(listRefusal('$skiptoken=')).toBe(SKIP_TOKEN_INVALID);
    });
  });

  describe('unsupported options', () => {
    it.each(['$orderby', '$count', '$expand', '$search', '$skip', '$format', '$apply', 'foo', 'api-version'])(
      'refuses %s by name and lists the supported options',
      (name) => {
        const message = listRefusal(`${encodeURIComponent(name)}=x`);
        expect(message).toContain(`The query option '${name}' is not supported when listing recovery keys`);
        expect(message).toContain(LIST_SUPPORTED);
      },
    );

    it.each([
      ['$FILTER', '$filter'],
      ['$Top', '$top'],
      ['$skipToken', '$skiptoken'],
      ['select', '$select'],
      ['filter', '$filter'],
    ])('refuses %s with a hint to write %s', (name, meant) => {
      const message = listRefusal(`${encodeURIComponent(name)}=x`);
      expect(message).toContain(`did you mean '${meant}'?`);
      expect(message).toContain(LIST_SUPPORTED);
    });

    it('refuses a parameter without a name', () => {
      expect(listRefusal('=x')).toContain(`The query option '' is not supported when listing recovery keys. ${LIST_SUPPORTED}`);
    });

    it('refuses an unsupported option even next to supported ones', () => {
      expect(listRefusal('$top=5&$orderby=createdDateTime desc')).toContain("'$orderby'");
    });

    it.each(['$filter', '$top', '$select', '$skiptoken'])('refuses %s given twice', (name) => {
      const message = listRefusal(`${name}=1&${name}=1`);
      expect(message).toContain(`The query option ${name} is given more than once`);
      expect(message).toContain(LIST_SUPPORTED);
    });
  });
});

describe('parseItemSelect', () => {
  it('returns no selection and no key without options', () => {
    expect(item('')).toEqual({ includeKey: false });
  });

  it('includes the key when $select names key', () => {
    expect(item('$select=key')).toEqual({ includeKey: true, select: ['key'] });
  });

  it('includes the key among other properties, trimmed and de-duplicated', () => {
    expect(item('$select=id, key ,id')).toEqual({ includeKey: true, select: ['id', 'key'] });
  });

  it('does not include the key when $select leaves it out', () => {
    expect(item('$select=id,deviceId')).toEqual({ includeKey: false, select: ['id', 'deviceId'] });
  });

  it('refuses an unknown property and lists the selectable ones, key among them', () => {
    const message = itemRefusal('$select=password');
    expect(message).toContain("'password' is not a property that can be selected");
    expect(message).toContain('Selectable: id, createdDateTime, deviceId, volumeType, key.');
  });

  it('refuses Key with a hint to write key', () => {
    expect(itemRefusal('$select=Key')).toContain("did you mean 'key'?");
  });

  it.each(['$filter', '$top', '$skiptoken', '$expand', 'foo'])('refuses %s on a single key', (name) => {
    const message = itemRefusal(`${name}=x`);
    expect(message).toContain(`The query option '${name}' is not supported when reading one recovery key`);
    expect(message).toContain(ITEM_SUPPORTED);
  });

  it('refuses $select given twice', () => {
    expect(itemRefusal('$select=id&$select=key')).toContain('The query option $select is given more than once');
  });
});
