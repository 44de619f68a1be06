import fc from 'fast-check';
import { encodeSkipToken } from '../../shared/odata/skipToken';

// fast-check generators of requests for test/http/fuzz.test.ts: valid material (GUIDs, recovery
// passwords, bodies) and hostile variations of it. Bodies are built as raw JSON text, not with
// JSON.stringify, so that they can hold what JSON.stringify never writes: duplicate names, 1e309, -0,
// escaped spellings of names, lone surrogates.

// ---- text helpers ---------------------------------------------------------------------------------------------

/** A JSON string literal whose characters are all written as \uXXXX escapes where `escape` says so. */
export function jsonString(text: string, escape: (c: string, index: number) => boolean = () => false): string {
  let out = '"';
  [...text].forEach((c, i) => {
    if (escape(c, i)) {
      for (let k = 0; k < c.length; k++) out += `\\u${c.charCodeAt(k).toString(16).padStart(4, '0')}`;
    } else {
      out += JSON.stringify(c).slice(1, -1);
    }
  });
  return `${out}"`;
}

/** A name spelled plainly or with some characters as \u escapes: JSON-equal, textually different. */
export const nameSpelling = (name: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(JSON.stringify(name)) },
    fc.integer({ min: 0, max: Math.max(0, name.length - 1) }).map((at) => jsonString(name, (_c, i) => i === at)),
    fc.constant(jsonString(name, () => true)),
  );

/** Digits 0-9 of other scripts, which \d, [0-9] and Number() must not take for ASCII digits. */
export const ODD_ZEROS = [
  0x0660, // Arabic-Indic
  0x06f0, // Extended Arabic-Indic
  0x0966, // Devanagari
  0xff10, // fullwidth
  0x1d7ce, // mathematical bold (outside the BMP: a surrogate pair in JavaScript)
];

/** `text` with some ASCII digits (or all) replaced by the same digits of another script. */
export const oddDigits = (text: string): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...ODD_ZEROS), fc.boolean(), fc.nat()).map(([zero, all, pick]) => {
    const positions = [...text].flatMap((c, i) => (/[0-9]/.test(c) ? [i] : []));
    const chosen = positions.length === 0 ? -1 : positions[pick % positions.length];
    return [...text].map((c, i) => (/[0-9]/.test(c) && (all || i === chosen) ? String.fromCodePoint(zero + Number(c)) : c)).join('');
  });

/** `text` with its Latin letters a-f (or some) as fullwidth letters. */
export const fullwidthLetters = (text: string): string => text.replace(/[a-fA-F]/g, (c) => String.fromCodePoint(c.charCodeAt(0) + 0xfee0));

// ---- valid material -------------------------------------------------------------------------------------------

export const guid = fc.uuid().map((id) => id.toLowerCase());

/** The same GUID as a client may write it: any case, with or without braces. */
export const guidSpelling = (id: string): fc.Arbitrary<string> =>
  fc
    .oneof(fc.constant(id), fc.constant(id.toUpperCase()), fc.mixedCase(fc.constant(id)))
    .chain((spelled) => fc.constantFrom(spelled, `{${spelled}}`));

export const recoveryPassword = fc
  .array(fc.integer({ min: 0, max: 65535 }), { minLength: 8, maxLength: 8 })
  .map((words) => words.map((word) => String(word * 11).padStart(6, '0')).join('-'));

export const VOLUME_TYPE_NAMES = ['operatingSystemVolume', 'fixedDataVolume', 'removableDataVolume', 'unknownFutureValue'];

export const volumeType = fc.constantFrom<string | number>(...VOLUME_TYPE_NAMES, 1, 2, 3, 4, '1', '2', '3', '4');

/** A past date-time in .NET's DateTimeOffset range, in UTC or with an offset of up to 14 hours, some near year 1. */
export const pastDateTime = fc
  .tuple(
    fc.date({ min: new Date('0001-01-02T00:00:00Z'), max: new Date('2025-01-01T00:00:00Z'), noInvalidDate: true }),
    fc.integer({ min: -14 * 60, max: 14 * 60 }),
    fc.boolean(),
  )
  .map(([date, offsetMinutes, inUtc]) => {
    if (inUtc) return date.toISOString();
    const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 23);
    const sign = offsetMinutes < 0 ? '-' : '+';
    const hours = String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0');
    return `${local}${sign}${hours}:${String(Math.abs(offsetMinutes) % 60).padStart(2, '0')}`;
  });

/** Instance annotations a client sends back from a read, or any other @odata.* one: none of them a property. */
export const ignoredAnnotation: fc.Arbitrary<Member> = fc.oneof(
  fc.constant<Member>([
    '"@odata.context"',
    '"https://graph.microsoft.com/v1.0/$metadata#informationProtection/bitlocker/recoveryKeys/$entity"',
  ]),
  fc
    .tuple(fc.constantFrom('id', 'editLink', 'readLink', 'nextLink', 'count', 'deltaLink', 'mediaEtag', 'x'), fc.jsonValue({ maxDepth: 2 }))
    .map(([term, value]): Member => [JSON.stringify(`@odata.${term}`), JSON.stringify(value)]),
);

/** One member of a raw JSON object: the name as a JSON string literal, the value as JSON text. */
export type Member = [name: string, value: string];

export const rawObject = (members: readonly Member[]): string => `{${members.map(([name, value]) => `${name}:${value}`).join(',')}}`;

export interface ValidBody {
  /** The body's id, lowercase, when it has one. */
  id?: string;
  deviceId: string;
  members: Member[];
}

/** A complete, valid recovery-key body as raw members; `withId` decides whether it names its id. */
export const validBody = (withId: boolean | 'maybe' = 'maybe'): fc.Arbitrary<ValidBody> =>
  fc
    .record({
      id: guid,
      hasId: withId === 'maybe' ? fc.boolean() : fc.constant(withId),
      deviceId: guid,
      key: recoveryPassword,
      volumeType,
      createdDateTime: fc.option(pastDateTime, { nil: undefined }),
      odataType: fc.boolean(),
      annotations: fc.array(ignoredAnnotation, { maxLength: 2 }),
    })
    .chain((b) =>
      fc.tuple(b.hasId ? guidSpelling(b.id) : fc.constant(undefined), guidSpelling(b.deviceId)).map(([idText, deviceIdText]): ValidBody => {
        const members: Member[] = [];
        if (b.odataType) members.push(['"@odata.type"', '"#microsoft.graph.bitlockerRecoveryKey"']);
        // One annotation per name: a name given twice is refused as a duplicate, annotation or not.
        members.push(...b.annotations.filter(([name], i) => b.annotations.findIndex(([other]) => other === name) === i));
        if (idText !== undefined) members.push(['"id"', JSON.stringify(idText)]);
        members.push(['"deviceId"', JSON.stringify(deviceIdText)], ['"key"', JSON.stringify(b.key)]);
        members.push(['"volumeType"', JSON.stringify(b.volumeType)]);
        if (b.createdDateTime) members.push(['"createdDateTime"', JSON.stringify(b.createdDateTime)]);
        return { id: b.hasId ? b.id : undefined, deviceId: b.deviceId, members };
      }),
    );

// ---- hostile values -------------------------------------------------------------------------------------------

const VALID_KEY = '496298-461032-321464-595518-463221-173943-033616-139579';
const VALID_GUID = '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e';

/** Number and literal spellings that JSON.stringify never writes, and the usual suspects around 1 to 4. */
const RAW_LITERALS = [
  '1e309',
  '-1e309',
  '1E400',
  '-0',
  '-0.0',
  '0',
  '0.0',
  '1',
  '1.0',
  '1e0',
  '10e-1',
  '4',
  '4.000000000000001',
  '5',
  '-1',
  '9007199254740993',
  '1e-400',
  'true',
  'false',
  'null',
  '[]',
  '{}',
  '[1]',
  '{"a":1}',
  '""',
  '" "',
  '"\\u0000"',
];

/** A value with one thing wrong with it, as JSON text (sometimes not valid JSON at all). */
export const hostileValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...RAW_LITERALS),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => JSON.stringify(s)),
  // Lone surrogates, escaped (valid JSON, invalid UTF-16) and alone or after valid text.
  fc
    .tuple(fc.integer({ min: 0xd800, max: 0xdfff }), fc.constantFrom('', VALID_KEY, VALID_GUID, '1'), fc.boolean())
    .map(([unit, text, before]) => {
      const escape = `\\u${unit.toString(16)}`;
      return `"${before ? escape + text : text + escape}"`;
    }),
  // Valid values in other scripts' digits or fullwidth letters.
  fc
    .constantFrom(VALID_KEY, VALID_GUID, '1', '4')
    .chain(oddDigits)
    .map((s) => JSON.stringify(s)),
  fc.constant(JSON.stringify(fullwidthLetters(VALID_GUID))),
  // Valid values with a little extra: whitespace, control characters, invisible characters, braces half-open.
  fc
    .tuple(
      fc.constantFrom(VALID_KEY, VALID_GUID, 'operatingSystemVolume', '#microsoft.graph.bitlockerRecoveryKey', '2020-01-01T00:00:00Z'),
      fc.constantFrom(' ', '\t', '\n', '\u0000', '\u00a0', '\u200b', '\u202e', '\ufeff', '{', '}', '-', '0', 'x'),
      fc.boolean(),
    )
    .map(([text, extra, before]) => JSON.stringify(before ? extra + text : text + extra)),
  // Raw control characters inside a string: not valid JSON.
  fc.integer({ min: 0, max: 0x1f }).map((c) => `"a${String.fromCharCode(c)}b"`),
  // Very long strings, some of them past the body limit.
  fc.integer({ min: 100, max: 20_000 }).map((n) => `"${'7'.repeat(n)}"`),
  // Recovery passwords just off: a group not divisible by 11, or 720896 and above, or the wrong shape.
  fc.constantFrom(
    '"496298-461032-321464-595518-463221-173943-033616-139578"',
    '"720896-461032-321464-595518-463221-173943-033616-139579"',
    '"999999-461032-321464-595518-463221-173943-033616-139579"',
    '"496298461032321464595518463221173943033616139579"',
    '"496298-461032-321464-595518-463221-173943-033616"',
    '"496298-461032-321464-595518-463221-173943-033616-139579-000000"',
    '"496298 461032 321464 595518 463221 173943 033616 139579"',
  ),
  // Dates that are not: rolled over, without zone, with fractions, year 0, far future.
  fc.constantFrom(
    '"2024-02-30T00:00:00Z"',
    '"2023-02-29T00:00:00Z"',
    '"2020-01-01T24:00:00Z"',
    '"2020-01-01T00:00:60Z"',
    '"2020-01-01T00:00:00"',
    '"2020-01-01"',
    '"0000-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59Z"',
    '"2020-01-01T00:00:00.12345678Z"',
    '"2020-01-01T00:00:00+24:00"',
    '"+002020-01-01T00:00:00Z"',
    '"1577836800"',
    // In Edm.DateTimeOffset's syntax but outside .NET's DateTimeOffset range once the offset is applied.
    '"0001-01-01T00:00:00+13:00"',
    '"0001-01-01T00:00:00+00:01"',
    '"0000-12-31T23:59:59.9999999Z"',
    '"2020-01-01T00:00:00+14:01"',
  ),
);

/** Property names that are not ours, or almost ours. */
export const hostileName: fc.Arbitrary<string> = fc.oneof(
  fc
    .constantFrom(
      'Key',
      'KEY',
      'key ',
      ' key',
      'deviceid',
      'DeviceId',
      'ID',
      'Id',
      'volumetype',
      '@odata.context',
      '@odata.etag',
      '@odata.ETag',
      '@ODATA.etag',
      'key@odata.type',
      '@odata.nextLink',
      'recoveryPassword',
      'createdDateTime ',
      '',
      ' ',
      'key\u0000',
      '\u202ekey',
      'ｋｅｙ',
      'k\u200bey',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '__defineGetter__',
    )
    .map((name) => JSON.stringify(name)),
  fc.string({ unit: 'binary', maxLength: 20 }).map((name) => JSON.stringify(name)),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => `"\\u${unit.toString(16)}"`),
);

export type Mutation = 'value' | 'name' | 'remove' | 'add';

/** A valid body with one property's value or name replaced, one removed, or one foreign property added. */
export const mutatedBody = (withId: boolean | 'maybe' = 'maybe') =>
  fc
    .record({
      body: validBody(withId),
      mutation: fc.constantFrom<Mutation>('value', 'value', 'value', 'name', 'remove', 'add'),
      pick: fc.nat(),
      value: hostileValue,
      name: hostileName,
    })
    .map(({ body, mutation, pick, value, name }) => {
      const members = body.members.map((m): Member => [...m]);
      const at = pick % members.length;
      if (mutation === 'value') members[at][1] = value;
      if (mutation === 'name') members[at][0] = name;
      if (mutation === 'remove') members.splice(at, 1);
      if (mutation === 'add') members.splice(at, 0, [name, value]);
      return { ...body, mutation, text: rawObject(members) };
    });

// ---- hostile documents ----------------------------------------------------------------------------------------

export const POISON_NAMES = ['__proto__', 'constructor', 'prototype'] as const;

/** A body with __proto__, constructor or prototype as a name at some depth, spelled plainly or escaped. */
export const prototypeBody = fc
  .record({
    body: validBody(true),
    poison: fc.constantFrom(...POISON_NAMES),
    payload: fc.constantFrom(
      '{"isAdmin":true}',
      '{"polluted":"yes","roles":["BitLockerKey.ReadWrite.All"]}',
      '{"prototype":{"x":1}}',
      'null',
      '1',
      '[]',
    ),
    // Each level either an object member or an array element.
    path: fc.array(fc.oneof(fc.constantFrom('"id"', '"a"', '"key"', '"deviceId"'), fc.constant('[]')), { maxLength: 6 }),
    at: fc.nat(),
  })
  .chain((g) =>
    nameSpelling(g.poison).map((spelled) => {
      let value = `{${spelled}:${g.payload}}`;
      for (const level of [...g.path].reverse()) value = level === '[]' ? `[${value}]` : `{${level}:${value}}`;
      const members = [...g.body.members];
      // At the top level the poisoned object is itself the body's member list.
      if (g.path.length === 0) members.splice(g.at % (members.length + 1), 0, [spelled, g.payload]);
      else members.splice(g.at % (members.length + 1), 0, ['"extra"', value]);
      return { poison: g.poison, id: g.body.id, text: rawObject(members) };
    }),
  );

/** A body with one name twice, in the same object, at the top or in a nested object. */
export const duplicateBody = fc
  .record({ body: validBody(true), pick: fc.nat(), at: fc.nat(), other: validBody(true), nested: fc.boolean(), sameValue: fc.boolean() })
  .chain((g) => {
    const members = g.body.members;
    const [name, value] = members[g.pick % members.length];
    const plainName = JSON.parse(name) as string;
    // The other value: the same, or the same property of another valid body.
    const otherValue = g.sameValue ? value : (g.other.members.find(([n]) => n === name)?.[1] ?? value);
    return nameSpelling(plainName).map((spelled) => {
      if (g.nested) {
        const inner = rawObject([
          [name, value],
          ['"x"', '1'],
          [spelled, otherValue],
        ]);
        const withNested = [...members];
        withNested.splice(g.at % (members.length + 1), 0, ['"nested"', inner]);
        return { name: plainName, id: g.body.id, text: rawObject(withNested) };
      }
      const doubled = [...members];
      doubled.splice(g.at % (members.length + 1), 0, [spelled, otherValue]);
      return { name: plainName, id: g.body.id, text: rawObject(doubled) };
    });
  });

/** Deeply nested documents, balanced (valid JSON) or not, some within the body limit and some past it. */
export const deepBody = fc
  .record({
    depth: fc.integer({ min: 1, max: 12_000 }),
    shape: fc.constantFrom('arrays', 'inId', 'objects', 'mixed'),
    balanced: fc.boolean(),
  })
  .map(({ depth, shape, balanced }) => {
    const closeCount = balanced ? depth : depth - 1;
    switch (shape) {
      case 'arrays':
        return '['.repeat(depth) + ']'.repeat(closeCount);
      case 'inId':
        return `{"id":${'['.repeat(depth)}${']'.repeat(closeCount)}}`;
      case 'objects':
        return `${'{"a":'.repeat(depth)}1${'}'.repeat(closeCount)}`;
      default:
        return `{"key":${'[{"a":'.repeat(depth)}0${'}]'.repeat(closeCount)}}`;
    }
  });

/** JSON documents that are not objects. */
export const nonObjectBody: fc.Arbitrary<string> = fc.oneof(
  fc
    .jsonValue({ maxDepth: 3 })
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))
    .map((v) => JSON.stringify(v)),
  fc.constantFrom('1e309', '-0', '"{}"', '[{}]', ' null ', '"\\ud800"', '[{"id":"x"}]'),
);

/** Text that is not JSON, or not quite. */
export const notJsonBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\n\t',
    '{',
    '}',
    '{"a":1,}',
    "{'a':1}",
    '{"a":01}',
    '{"a":.5}',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":undefined}',
    '{a:1}',
    '{"a":1}{"b":2}',
    '{"a":1} x',
    '\u0000',
    '{"a":"\\x41"}',
    '{"a":"\\u12"}',
    '{"a":"\u0001"}',
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }),
);

/** Byte sequences that are not UTF-8: overlong forms, stray continuation bytes, encoded surrogates, truncations. */
export const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
];

/** A valid body's bytes with an invalid UTF-8 sequence put in somewhere. */
export const invalidUtf8Body = fc
  .record({ body: validBody(true), at: fc.nat(), bytes: fc.constantFrom(...INVALID_UTF8) })
  .map(({ body, at, bytes }) => {
    const text = Buffer.from(rawObject(body.members), 'utf8');
    const cut = at % (text.length + 1);
    return { id: body.id, bytes: Buffer.concat([text.subarray(0, cut), Buffer.from(bytes), text.subarray(cut)]) };
  });

// ---- headers --------------------------------------------------------------------------------------------------

/**
 * Text an HTTP client can put in a header value: tab, space, visible ASCII and obs-text (0x80-0xFF, how
 * UTF-8 bytes travel in a header). Anything else the client library refuses to send, and HTTP parsers refuse
 * before an application sees it.
 */
export const headerText = (maxLength = 60): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength }),
      fc.string({
        unit: fc.constantFrom('\t', ' ', '"', ',', ';', '=', '*', 'W', '/', 'a', '0', '\u0085', '\u00a0', '\u00ff', '\u00e9'),
        maxLength,
      }),
      // UTF-8 of any text, as the bytes (latin1 characters) a client sends.
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')),
      fc.constantFrom('\u00e2\u0080\u00ae', 'a\tb', '\tpadded\t', '*', '"*"', 'W/"x"', '*, *', '', ' '),
      fc.integer({ min: 100, max: 4000 }).map((n) => 'x'.repeat(n)),
    )
    .map((text) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''));

export const CONTENT_TYPES = [
  'application/json',
  'APPLICATION/JSON',
  'Application/Json',
  'application/json; charset=utf-8',
  'application/json;charset=UTF-16',
  'application/json; odata.metadata=minimal; odata.streaming=true',
  ' application/json ',
  'application/json ;',
  'application/json\t',
  'application/merge-patch+json',
  'application/json-patch+json',
  'application/jsonx',
  'application/json2',
  'application/ json',
  'application /json',
  'text/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '*/*',
  'application/*',
  'application',
  'json',
  ';application/json',
  'application/json, text/plain',
  'text/plain; x=application/json',
  '',
  ' ',
];

export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: headerText(40) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

/** Authorization values around a valid bearer token: broken, truncated, re-signed, or with its claims bent. */
export type TokenVerdict = 'valid' | 'invalid' | 'either';

export const authorizationAround = (validToken: string): fc.Arbitrary<{ value: string; verdict: TokenVerdict }> => {
  const [header, payload, signature] = validToken.split('.') as [string, string, string];
  const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  const judged = (verdict: TokenVerdict) => (value: string) => ({ value, verdict });
  const broken = judged('invalid');
  return fc.oneof(
    fc.constantFrom(`Bearer ${validToken}`, `bearer ${validToken}`, `BEARER  ${validToken}`).map(judged('valid')),
    headerText(80).map(broken),
    headerText(80).map((garbage) => broken(`Bearer ${garbage}`)),
    fc
      .constantFrom(
        '',
        'Bearer',
        'Bearer ',
        'Basic dXNlcjpwYXNz',
        validToken,
        `Bearer ${validToken} extra`,
        `Bearer\t${validToken}`,
        `Bearer ${validToken},Bearer ${validToken}`,
        `Bearer ${header}.${payload}`,
        `Bearer ${header}.${payload}.`,
        `Bearer ..`,
        `Bearer ${payload}.${header}.${signature}`,
        `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
        `Bearer ${b64({ alg: 'HS256', typ: 'JWT' })}.${payload}.${signature}`,
        `Bearer ${b64({ alg: 'RS256', crit: ['exp'] })}.${payload}.${signature}`,
        `Bearer ${b64({ alg: 'RS256', b64: false, crit: ['b64'] })}.${payload}.${signature}`,
        `Bearer ${b64('null')}.${payload}.${signature}`,
        `Bearer ${b64('[]')}.${payload}.${signature}`,
        `Bearer ${b64('"RS256"')}.${payload}.${signature}`,
        `Bearer ${header}.${b64('null')}.${signature}`,
        `Bearer ${header}.${b64('[1]')}.${signature}`,
        `Bearer ${header}.${b64('not json')}.${signature}`,
      )
      .map(broken),
    // Headers and payloads of any JSON, with the real signature: nothing of the kind verifies.
    fc
      .tuple(fc.jsonValue({ maxDepth: 2 }), fc.boolean())
      .map(([json, inHeader]) =>
        broken(inHeader ? `Bearer ${b64(json)}.${payload}.${signature}` : `Bearer ${header}.${b64(json)}.${signature}`),
      ),
    fc
      .record(
        {
          alg: fc.oneof(fc.constantFrom('RS256', 'none', 'HS256', 'ES256', 'PS256', 'RS384', ''), fc.jsonValue({ maxDepth: 1 })),
          kid: fc.option(fc.jsonValue({ maxDepth: 1 })),
          jwk: fc.option(fc.jsonValue({ maxDepth: 1 })),
        },
        { requiredKeys: ['alg'] },
      )
      .map((h) => broken(`Bearer ${b64(h)}.${payload}.${signature}`)),
    // One character changed or the token cut short: mostly invalid, though a change in the spare bits of a
    // base64url segment's last character can leave the decoded token, and so its validity, as it was.
    fc.tuple(fc.nat(), fc.constantFrom('A', 'a', '0', '-', '_', '.', '=', '+', '/', ' ')).map(([at, c]) => {
      const i = at % validToken.length;
      const mutated = validToken.slice(0, i) + c + validToken.slice(i + 1);
      return judged(mutated === validToken ? 'valid' : 'either')(`Bearer ${mutated}`);
    }),
    fc.nat().map((at) => broken(`Bearer ${validToken.slice(0, at % validToken.length)}`)),
  );
};

/** Claims to put in a properly signed token, of every JSON type where a string, number or array belongs. */
export const bentClaims = fc.record(
  {
    roles: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constant(['BitLockerKey.ReadWrite.All']),
      fc.constant(['bitlockerkey.readwrite.all', 5, null]),
    ),
    scp: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom('BitLockerKey.ReadWrite.All', '  BitlockerKey.ReadWrite.All  x', '')),
    tid: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant('00000000-0000-0000-0000-000000000000')),
    exp: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(0, Infinity, -1, 2 ** 53, 4102444800)),
    nbf: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(0, 4102444800)),
    iss: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant('https://bitlocker-escrow.local/dev')),
    aud: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant(['x', 'api://bitlocker-escrow-local'])),
    oid: fc.jsonValue({ maxDepth: 1 }),
    appid: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

// ---- paths ----------------------------------------------------------------------------------------------------

export const COLLECTION_PATHS = ['/bitlocker/recoveryKeys', '/informationProtection/bitlocker/recoveryKeys'];
export const VERSION_PREFIXES = ['', '/v1.0', '/beta'];

/** A collection path in one of its forms, the literal segments in any case (routes are case-insensitive). */
export const collectionPath: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...VERSION_PREFIXES), fc.constantFrom(...COLLECTION_PATHS), fc.boolean())
  .chain(([version, path, oddCase]) => (oddCase ? fc.mixedCase(fc.constant(version + path)) : fc.constant(version + path)));

const percentEncode = (text: string, upper: boolean): string =>
  [...Buffer.from(text, 'utf8')]
    .map((b) => `%${b.toString(16).padStart(2, '0')}`)
    .map((e) => (upper ? e.toUpperCase() : e))
    .join('');

/**
 * What an id segment should come to: 'guid' if it is the GUID in another spelling (so the request reaches
 * that key), 'invalid' if it is not a GUID (a 4xx), 'any' where URL rules (dot segments) move the request
 * elsewhere and any non-5xx answer is right.
 */
export type SegmentKind = 'guid' | 'invalid' | 'any';

/** The id segment of an item URL, raw as it goes on the wire, in odd encodings of the GUID `id`. */
export const idSegment = (id: string): fc.Arbitrary<{ segment: string; kind: SegmentKind }> => {
  const as = (kind: SegmentKind) => (segment: string) => ({ segment, kind });
  return fc.oneof(
    guidSpelling(id).map(as('guid')),
    fc.constantFrom(`%7B${id}%7D`, `%7b${id.toUpperCase()}%7d`, `{${id}%7D`).map(as('guid')),
    // Every character or some percent-encoded: the URL decodes to the GUID.
    fc
      .tuple(fc.boolean(), fc.nat())
      .map(([upper, pick]) =>
        as('guid')([...id].map((c, i) => (i === pick % id.length || pick % 3 === 0 ? percentEncode(c, upper) : c)).join('')),
      ),
    fc
      .constantFrom(
        `${id}%00`,
        `%00${id}`,
        `${id}%0A`,
        `${id}%20`,
        `%20${id}`,
        `${id}%09`,
        `${id}%2F`,
        `${id}%2f${id}`,
        `${id}%3B`,
        `${id};x=1`,
        `${id}%3F`,
        `${id}%23`,
        `(${id})`,
        `%28${id}%29`,
        id.replace(/-/g, ''),
        `{${id}`,
        `${id}}`,
        `{{${id}}}`,
        `${id}0`,
        id.slice(1),
        `${id.slice(0, 35)}g`,
        `%25${percentEncode(id[0], true).slice(1)}${id.slice(1)}`,
        percentEncode(id, true).replace(/%/g, '%25'),
        `%C0%AE%C0%AE`,
        `%E0%80%AE`,
        `%ED%A0%80`,
        `${id}%ED%A0%80`,
        `%FF`,
        `%`,
        `%%`,
        `%G0`,
        `${id}%`,
        `${id}%2`,
        '%2E%2E%2E',
        '...',
        '~',
        '$value',
        "'x'",
        '%27%27',
        'null',
        'undefined',
        '0',
      )
      .map(as('invalid')),
    fc
      .constantFrom('.', '..', '%2e', '%2e%2e', '%2E%2e', `${id}/..`, `${id}/.`, `../${id}`, `..%2F${id}`, `${id}/`, `${id}//`)
      .map(as('any')),
    oddDigits(id).map((s) => as('invalid')(encodeURIComponent(s))),
    fc.constant(as('invalid')(encodeURIComponent(fullwidthLetters(id)))),
    fc.integer({ min: 37, max: 6000 }).map((n) => as('invalid')('a'.repeat(n))),
    fc
      .string({ unit: 'binary', minLength: 1, maxLength: 40 })
      .filter((s) => !/^\.+$/.test(s))
      .map((s) => as('invalid')(encodeURIComponent(s))),
    // Raw visible ASCII except the characters that end a path or a segment.
    fc
      .string({ unit: fc.constantFrom(...'!$&\'()*+,;=:@-._~{}[]|^`"<>ABCabc019'.split('')), minLength: 1, maxLength: 30 })
      .filter((s) => !/^\.+$/.test(s))
      .map(as('invalid')),
  );
};

// ---- query options --------------------------------------------------------------------------------------------

/** A $filter: a supported form with odd values, a near miss, token soup, or something long. */
export const filterText = (knownDeviceId: string, knownId: string): fc.Arbitrary<{ text: string; supported: boolean }> => {
  const ok = (text: string) => ({ text, supported: true });
  const any = (text: string) => ({ text, supported: false });
  const quoted = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const tokens = [
    'deviceId',
    'id',
    'eq',
    'ne',
    'startswith',
    'endswith',
    'contains',
    '(',
    ')',
    ',',
    "'",
    "''",
    ' ',
    '\t',
    'and',
    'or',
    'not',
    'key',
    'DeviceId',
    'EQ',
    'StartsWith',
    '{',
    '}',
    '"',
    '-',
    '0',
    'null',
    'true',
    '$it',
    '/',
    'any',
    ':',
    '@p',
    '%',
    '\u0000',
    '\u202e',
    '٠',
    quoted(knownDeviceId),
    quoted(knownId),
    quoted(knownId.slice(0, 8)),
    quoted(''),
    "'x'",
    "'it''s'",
  ];
  return fc.oneof(
    fc.tuple(guidSpelling(knownDeviceId), fc.constantFrom('', ' ', '  ', '\t')).map(([g, ws]) => ok(`${ws}deviceId eq ${quoted(g)}${ws}`)),
    fc.tuple(guidSpelling(knownId), fc.boolean()).map(([g, paren]) => ok(paren ? `(id eq ${quoted(g)})` : `id eq ${quoted(g)}`)),
    fc
      .integer({ min: 1, max: 36 })
      .chain((n) => fc.mixedCase(fc.constant(knownId.slice(0, n))))
      .map((p) => ok(`startswith(id,${quoted(p)})`)),
    guid.map((g) => ok(`deviceId eq '${g}'`)),
    fc.array(fc.constantFrom(...tokens), { maxLength: 14 }).map((ts) => any(ts.join(''))),
    fc.array(fc.constantFrom(...tokens), { maxLength: 14 }).map((ts) => any(ts.join(' '))),
    fc.string({ unit: 'binary', maxLength: 60 }).map(any),
    fc
      .constantFrom(
        `deviceId eq ${knownDeviceId}`,
        `deviceId eq "${knownDeviceId}"`,
        `deviceId eq '{${knownDeviceId}'`,
        `deviceId eq '${knownDeviceId}' and id eq '${knownId}'`,
        `deviceId  eq  '${knownDeviceId}'`,
        `deviceid eq '${knownDeviceId}'`,
        `startswith(id,'')`,
        `startswith(id,'g')`,
        `startswith(deviceId,'ab')`,
        `startswith(id, '${knownId.slice(0, 4)}')`,
        `startswith(id,'${knownId}0')`,
        `startswith(id,'${'-'.repeat(36)}')`,
        `startswith(id,'${'٠'.repeat(4)}')`,
        `((((id eq '${knownId}'))))`,
        `(`.repeat(300) + `id eq '${knownId}'` + `)`.repeat(300),
        `(`.repeat(200),
        `id eq '${knownId}''`,
        `id eq '${'x'.repeat(600)}'`,
        `key eq '496298-461032-321464-595518-463221-173943-033616-139579'`,
        `id eq null`,
        `id in ('${knownId}')`,
        `not id eq '${knownId}'`,
      )
      .map(any),
  );
};

export const topText: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: -5, max: 1100 }).map(String),
  fc.constantFrom(
    '0',
    '1',
    '1000',
    '1001',
    '01',
    '0001000',
    '+5',
    ' 5',
    '5 ',
    '1e2',
    '0x10',
    '1.0',
    '1,2',
    '',
    '-0',
    'NaN',
    'Infinity',
    '99999999999999999999',
    '٥',
    '５',
    '𝟓',
    '\u0035\u0301',
    'ten',
  ),
);

export const selectText = (selectable: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(
    fc.subarray([...selectable, 'key']).map((names) => names.join(',')),
    fc
      .array(
        fc.constantFrom(
          ...selectable,
          'key',
          'Key',
          'ID',
          '*',
          '',
          ' ',
          'id ',
          ' id',
          'id\u00a0',
          'ｉｄ',
          '@odata.type',
          'recoveryPassword',
          'id/x',
          'value',
        ),
        { maxLength: 6 },
      )
      .map((names) => names.join(',')),
    fc.string({ unit: 'binary', maxLength: 30 }),
  );

/** Garbage where a $skiptoken belongs, and tokens sealed with the service's own (development) key around odd continuations. */
export const skipTokenText = (fingerprints: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(
    fc.base64String({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 120 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
    fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.concat([Buffer.from([1]), Buffer.from(bytes)]).toString('base64url')),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.constantFrom('', ' ', 'AQ', 'AA', '=', 'null', 'x'.repeat(3000)),
    fc
      .record({
        nextPartitionKey: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }),
        nextRowKey: fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 60 }), { nil: undefined }),
        fingerprint: fc.constantFrom(...fingerprints),
      })
      .filter((r) => r.nextPartitionKey !== '' && r.nextRowKey !== '')
      .map(({ fingerprint, ...fields }) =>
        encodeSkipToken({ query: fingerprint, continuation: Buffer.from(JSON.stringify(fields), 'latin1').toString('base64') }),
      ),
  );
