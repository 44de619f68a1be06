import { parseAuditFilter } from '../../shared/audit/query';
import { refusal } from '../support/refusal';

// activityDateTime bounds become inclusive whole-millisecond bounds that select exactly what the
// operator says, for records stamped to the millisecond.

const at = (iso: string): Date => new Date(iso);

describe('activityDateTime bounds', () => {
  it.each([
    ['ge', '2026-03-01T10:00:00.123Z', { from: at('2026-03-01T10:00:00.123Z') }],
    ['gt', '2026-03-01T10:00:00.123Z', { from: at('2026-03-01T10:00:00.124Z') }],
    ['le', '2026-03-01T10:00:00.123Z', { to: at('2026-03-01T10:00:00.123Z') }],
    ['lt', '2026-03-01T10:00:00.123Z', { to: at('2026-03-01T10:00:00.122Z') }],
    // Finer than a millisecond: a record at .123 is before .1234, so ge starts at .124 and lt ends at .123.
    ['ge', '2026-03-01T10:00:00.1234Z', { from: at('2026-03-01T10:00:00.124Z') }],
    ['gt', '2026-03-01T10:00:00.1234Z', { from: at('2026-03-01T10:00:00.124Z') }],
    ['le', '2026-03-01T10:00:00.1234Z', { to: at('2026-03-01T10:00:00.123Z') }],
    ['lt', '2026-03-01T10:00:00.1234Z', { to: at('2026-03-01T10:00:00.123Z') }],
    ['ge', '2026-03-01T10:00:00.1230000Z', { from: at('2026-03-01T10:00:00.123Z') }],
    ['ge', '2026-03-01T10:00Z', { from: at('2026-03-01T10:00:00.000Z') }],
    ['ge', '1970-01-01T00:00:00Z', { from: at('1970-01-01T00:00:00.000Z') }],
    ['le', '9999-12-31T23:59:59.9999999Z', { to: at('9999-12-31T23:59:59.999Z') }],
  ])('activityDateTime %s %s', (operator, time, expected) => {
    expect(parseAuditFilter(`activityDateTime ${operator} ${time}`)).toEqual(expected);
  });

  it('takes years before 100 as they are written (no two-digit-year shift)', () => {
    expect(parseAuditFilter('activityDateTime ge 0001-01-01T00:00:00Z').from!.toISOString()).toBe('0001-01-01T00:00:00.000Z');
  });

  it('takes a lower and an upper bound together, in either order', () => {
    expect(parseAuditFilter('activityDateTime lt 2026-01-02T00:00:00Z and activityDateTime gt 2026-01-01T00:00:00Z')).toEqual({
      from: at('2026-01-01T00:00:00.001Z'),
      to: at('2026-01-01T23:59:59.999Z'),
    });
  });

  it.each([
    ['two lower bounds', 'activityDateTime ge 2026-01-01T00:00:00Z and activityDateTime gt 2026-01-01T00:00:00Z', 'once'],
    ['eq', 'activityDateTime eq 2026-01-01T00:00:00Z', "'ge', 'gt', 'le' or 'lt'"],
    ['a rolled-over date', 'activityDateTime ge 2026-02-30T00:00:00Z', 'not a valid date'],
    ['hour 24', 'activityDateTime ge 2026-02-01T24:00:00Z', 'not a valid date'],
    ['ends the wrong way round', 'activityDateTime gt 2026-01-02T00:00:00Z and activityDateTime lt 2026-01-01T00:00:00Z', 'later than'],
  ])('refuses %s', (_what, filter, detail) => {
    expect(refusal(() => parseAuditFilter(filter)).message).toContain(detail);
  });
});

describe('initiatedBy', () => {
  const oid = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';

  it("takes a user's id or an app's service principal id, both the caller's object id, lowercase", () => {
    expect(parseAuditFilter(`initiatedBy/user/id eq '${oid}'`)).toEqual({ initiatorId: oid.toLowerCase() });
    expect(parseAuditFilter(`initiatedBy/app/servicePrincipalId eq '${oid}' and activityDisplayName eq 'Read BitLocker key'`)).toEqual({
      initiatorId: oid.toLowerCase(),
      activity: 'Read BitLocker key',
    });
  });

  it.each([`initiatedBy/user/userPrincipalName eq 'a@b.c'`, `initiatedBy/user/id eq 'not-a-guid'`, `initiatedBy/app/appId eq '${oid}'`])(
    '%s is a 400 naming what is supported',
    (filter) => {
      expect(() => parseAuditFilter(filter)).toThrow(/initiatedBy\/user\/id eq '\{guid\}'/);
    },
  );
});
