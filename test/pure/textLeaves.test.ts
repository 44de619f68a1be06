import { withoutSecrets, withoutSecretsFrom } from '../../shared/redact';
import { normalizeGuid } from '../../shared/text/normalizeGuid';
import { escapeNonPrintableAscii, quoteClientText } from '../../shared/text/quoteClientText';

const GUID = 'b465e4e8-e4e8-b465-e8e4-65b4e8e465b4';

describe('quoteClientText: client text as an error message repeats it', () => {
  it('quotes short printable text as it is', () => {
    expect(quoteClientText('deviceid')).toBe("'deviceid'");
    expect(quoteClientText('')).toBe("''");
  });

  it('cuts text longer than 40 characters and says so', () => {
    expect(quoteClientText('a'.repeat(40))).toBe(`'${'a'.repeat(40)}'`);
    expect(quoteClientText('a'.repeat(41))).toBe(`'${'a'.repeat(40)}...'`);
  });

  it('masks a recovery password before cutting, so no group of it survives the cut', () => {
    const password = '401797-535051-095799-424523-613008-359942-086207-339845';
    expect(quoteClientText(`deviceId eq '${password}'`)).toBe("'deviceId eq '[recovery password]''");
    expect(quoteClientText(`${password} and ${password}`)).not.toMatch(/[0-9]{6}/);
  });

  it('escapes everything outside printable ASCII, so no NUL, line break or bidi override reaches a log', () => {
    expect(quoteClientText('a\u0000b\nc\u202ed\u00e9')).toBe("'a\\u0000b\\u000ac\\u202ed\\u00e9'");
    expect(escapeNonPrintableAscii('\u007f~ ')).toBe('\\u007f~ ');
  });
});

describe('normalizeGuid', () => {
  it('reads a GUID in any case, with or without braces, as lowercase without braces', () => {
    for (const written of [GUID, GUID.toUpperCase(), `{${GUID}}`, `{${GUID.toUpperCase()}}`]) expect(normalizeGuid(written)).toBe(GUID);
  });

  it('refuses anything else', () => {
    for (const text of ['', 'x', `{${GUID}`, `${GUID}}`, GUID.replace(/-/g, ''), `${GUID} `, `${GUID}0`, GUID.replace('b', 'g')]) {
      expect({ text, guid: normalizeGuid(text) }).toEqual({ text, guid: undefined });
    }
  });
});

describe('withoutSecretsFrom: a message that repeats a fragment of what the client sent', () => {
  const password = '401797535051095799424523613008359942086207339845';

  it('masks every run of six digits when the client sent a recovery password, even among more digits', () => {
    expect(withoutSecretsFrom("unexpected '401797' at position 1", password)).toBe("unexpected '[digits]' at position 1");
    expect(withoutSecretsFrom("not '1401797535051...'", `1${password}`)).toBe("not '[digits]...'");
  });

  it('leaves digits alone when it did not', () => {
    expect(withoutSecretsFrom("$top must be from 1 to 999, not '1234567'", '1234567')).toBe("$top must be from 1 to 999, not '1234567'");
  });
});

describe('withoutSecrets: part of a recovery password is masked as well as the whole', () => {
  const groups = ['496298', '461032', '321464', '595518', '463221', '173943', '033616', '712289'];

  it.each([
    ['seven groups with dashes', `other:${groups.slice(0, 7).join('-')}`, 'other:[digits]'],
    ['two groups', `ticket ${groups.slice(0, 2).join('-')} please`, 'ticket [digits] please'],
    ['groups with spaces', `UA/1.0 (${groups.slice(0, 3).join(' ')})`, 'UA/1.0 ([digits])'],
    ['a dashless run of 34 digits', `INC${'1234567890'.repeat(3)}1234`, 'INC[digits]'],
    ['a whole password', `a-${groups.join('-')}`, 'a-[recovery password]'],
  ])('%s', (_case, text, masked) => {
    expect(withoutSecrets(text)).toBe(masked);
  });

  it.each([
    ['one group', 'error 123456 at line 7'],
    ['eleven digits', 'call 01234567890'],
    ['a GUID', '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e'],
    ['a date and time', '2026-12-06T21:30:00.123Z'],
  ])('leaves %s as it is', (_case, text) => {
    expect(withoutSecrets(text)).toBe(text);
  });

  it('masks a token whole, digits in it or not', () => {
    expect(withoutSecrets('Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwMTIzNDU2In0.c2ln123456789012')).toBe('Bearer [token]');
  });
});
