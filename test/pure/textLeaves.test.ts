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
