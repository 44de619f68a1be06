import { readDateTimeOffset, writeDateTimeOffset } from '../../shared/odata/dateTimeOffset';

describe('readDateTimeOffset: Edm.DateTimeOffset literals in .NET DateTimeOffset range', () => {
  it.each([
    ['2026-11-28T09:45:12.345Z', '2026-11-28T09:45:12.345Z'],
    ['2026-11-28T09:45Z', '2026-11-28T09:45:00.000Z'],
    ['2019-03-04T05:06:07+02:00', '2019-03-04T03:06:07.000Z'],
    ['2019-03-04T05:06:07.1234567-14:00', '2019-03-04T19:06:07.123Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0001-01-01T13:00:00+13:00', '0001-01-01T00:00:00.000Z'],
    ['0001-01-01T00:00:00-01:00', '0001-01-01T01:00:00.000Z'],
    ['0099-06-01T00:00:00Z', '0099-06-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59.9999999Z', '9999-12-31T23:59:59.999Z'],
    ['9999-12-31T23:59:59+01:00', '9999-12-31T22:59:59.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('reads %s as %s', (text, written) => {
    const reading = readDateTimeOffset(text);
    expect('ms' in reading && writeDateTimeOffset(reading.ms)).toBe(written);
  });

  it.each([
    '0001-01-01T00:00:00+13:00', // the reported one: 0000-12-31T11:00Z
    '0001-01-01T00:00:00+00:01',
    '0000-12-31T23:59:59.9999999Z',
    '0000-01-01T00:00:00Z', // OData's syntax has a year 0; .NET's DateTimeOffset starts at year 1
    '9999-12-31T23:59:59-01:00',
    '9999-12-31T23:30:00-00:30',
  ])('refuses %s as out of range', (text) => {
    expect(readDateTimeOffset(text)).toEqual({ problem: 'range' });
  });

  it.each([
    '2024-02-30T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2020-04-31T00:00:00Z',
    '2020-13-01T00:00:00Z',
    '2020-01-01T24:00:00Z',
    '2020-01-01T00:60:00Z',
    '2020-01-01T00:00:60Z',
    '2020-01-01T00:00:00',
    '2020-01-01',
    '2020-01-01T00:00:00.12345678Z',
    '2020-01-01T00:00:00+14:01',
    '2020-01-01T00:00:00+15:00',
    '2020-01-01T00:00:00+01:60',
    '+002020-01-01T00:00:00Z',
    '10000-01-01T00:00:00Z',
    '-0001-01-01T00:00:00Z',
    '2020-01-01t00:00:00z',
    '2020-01-01T00:00:00 Z',
    '1577836800',
    '',
    '٢٠٢٠-01-01T00:00:00Z',
  ])('refuses %s as no date-time', (text) => {
    expect(readDateTimeOffset(text)).toEqual({ problem: 'format' });
  });
});

describe('writeDateTimeOffset: the one output form', () => {
  it('writes UTC with milliseconds, from a Date, milliseconds or stored text', () => {
    const expected = '2026-11-28T09:45:12.345Z';
    expect([new Date(expected), Date.parse(expected), '2026-11-28T10:45:12.345+01:00'].map(writeDateTimeOffset)).toEqual([
      expected,
      expected,
      expected,
    ]);
  });

  it('writes a value stored before the range was enforced as the nearest bound, never as year 0 or +10000', () => {
    expect(writeDateTimeOffset('0000-12-31T11:00:00.000Z')).toBe('0001-01-01T00:00:00.000Z');
    expect(writeDateTimeOffset('+010000-01-01T00:59:59.000Z')).toBe('9999-12-31T23:59:59.999Z');
  });

  it('throws on stored text that is no date-time at all (a defect, answered as a 500)', () => {
    expect(() => writeDateTimeOffset('yesterday')).toThrow('A stored date-time is not a date-time.');
  });
});
