import { setTimeout as sleep } from 'node:timers/promises';
import { READ, READ_BASIC, WRITE, call, token } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { AUDIT_READ, type DirectoryAudit, auditsOf, newOid } from '../support/audit';

// Any activityDateTime range returns every record in it: bounds before every record
// (1970 and earlier), after every record, at a record's exact millisecond, with each of ge, gt, le and lt.
// Each test isolates its key's events with targetResources/any(...).

let writer: string;
let reader: string;
let auditor: string;
let id: string;
/** The key's three events, oldest first. */
let events: DirectoryAudit[];

beforeAll(async () => {
  [writer, reader, auditor] = await Promise.all([
    token({ roles: [WRITE], claims: { oid: newOid() } }),
    token({ roles: [READ], claims: { oid: newOid() } }),
    token({ roles: [AUDIT_READ], claims: { oid: newOid() } }),
  ]);
  const body = keyBody();
  id = body.id!;
  expect((await call('PATCH', `${COLLECTION}/${id}`, { token: writer, body })).status).toBe(200);
  for (let i = 0; i < 2; i++) {
    await sleep(5);
    expect((await call('GET', `${COLLECTION}/${id}?$select=key`, { token: reader })).status).toBe(200);
  }
  events = (await auditsOf(id, auditor)).reverse();
  expect(events).toHaveLength(3);
});

const correlationIds = async (condition: string): Promise<string[]> =>
  (await auditsOf(id, auditor, condition)).map((e) => e.correlationId).reverse();
const all = (): string[] => events.map((e) => e.correlationId);
const shifted = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();

describe('activityDateTime ranges return every record in them', () => {
  it.each([
    'activityDateTime ge 1970-01-01T00:00:00Z',
    'activityDateTime ge 1969-12-31T23:59:59.999Z',
    'activityDateTime ge 0001-01-01T00:00:00Z',
    'activityDateTime gt 1970-01-01T00:00:00Z',
    'activityDateTime gt 1900-01-01T00:00:00Z',
    'activityDateTime le 9999-12-31T23:59:59.9999999Z',
    'activityDateTime lt 2286-11-20T17:46:40Z',
    'activityDateTime lt 3000-01-01T00:00:00Z',
    'activityDateTime ge 1970-01-01T00:00:00Z and activityDateTime le 9999-12-31T23:59:59Z',
  ])('%s: all of them', async (condition) => {
    expect(await correlationIds(condition)).toEqual(all());
  });

  it.each([
    'activityDateTime le 1970-01-01T00:00:00Z',
    'activityDateTime lt 1970-01-01T00:00:00Z',
    'activityDateTime le 1969-01-01T00:00:00Z',
    'activityDateTime ge 2286-11-20T17:46:40Z',
    'activityDateTime gt 9999-12-31T23:59:59Z',
    'activityDateTime ge 1970-01-01T00:00:00Z and activityDateTime lt 1970-01-01T00:00:00.001Z',
  ])('%s: none of them', async (condition) => {
    expect(await correlationIds(condition)).toEqual([]);
  });

  it('bounds at a record’s own millisecond: ge and le include it, gt and lt do not', async () => {
    const [first, middle, last] = events as [DirectoryAudit, DirectoryAudit, DirectoryAudit];
    const t = middle.activityDateTime;
    // Distinct milliseconds, so that each bound has one right answer.
    expect(new Set(events.map((e) => e.activityDateTime)).size).toBe(3);
    expect(await correlationIds(`activityDateTime ge ${t}`)).toEqual([middle.correlationId, last.correlationId]);
    expect(await correlationIds(`activityDateTime gt ${t}`)).toEqual([last.correlationId]);
    expect(await correlationIds(`activityDateTime le ${t}`)).toEqual([first.correlationId, middle.correlationId]);
    expect(await correlationIds(`activityDateTime lt ${t}`)).toEqual([first.correlationId]);
    expect(await correlationIds(`activityDateTime ge ${t} and activityDateTime le ${t}`)).toEqual([middle.correlationId]);
    expect(await correlationIds(`activityDateTime gt ${t} and activityDateTime lt ${t}`)).toEqual([]);
    // One millisecond either side, and a tenth of one.
    expect(await correlationIds(`activityDateTime ge ${shifted(t, 1)}`)).toEqual([last.correlationId]);
    expect(await correlationIds(`activityDateTime le ${shifted(t, -1)}`)).toEqual([first.correlationId]);
    expect(await correlationIds(`activityDateTime ge ${t.replace('Z', '1Z')}`)).toEqual([last.correlationId]);
    expect(await correlationIds(`activityDateTime lt ${t.replace('Z', '1Z')}`)).toEqual([first.correlationId, middle.correlationId]);
    // The first and the last record's bounds.
    expect(await correlationIds(`activityDateTime ge ${first.activityDateTime} and activityDateTime le ${last.activityDateTime}`)).toEqual(
      all(),
    );
    expect(await correlationIds(`activityDateTime gt ${first.activityDateTime} and activityDateTime lt ${last.activityDateTime}`)).toEqual([
      middle.correlationId,
    ]);
  });

  it('whole days around a record, across the day partition boundary', async () => {
    const day = events[0].activityDateTime.slice(0, 10);
    const next = shifted(`${day}T00:00:00.000Z`, 86_400_000);
    expect(await correlationIds(`activityDateTime ge ${day}T00:00:00Z and activityDateTime lt ${next}`)).toEqual(
      events.filter((e) => e.activityDateTime.startsWith(day)).map((e) => e.correlationId),
    );
    expect(await correlationIds(`activityDateTime ge ${shifted(`${day}T00:00:00.000Z`, -86_400_000)}`)).toEqual(all());
  });
});

describe('who the audit trail names', () => {
  it('records a delegated user whose token has no upn nor preferred_username as a user, not as an app', async () => {
    const user = { oid: newOid(), appId: newId() };
    const delegated = await token({ scopes: [READ_BASIC], claims: { oid: user.oid, appid: user.appId, upn: undefined } });
    const refused = await call('GET', `${COLLECTION}/${id}?$select=key`, { token: delegated });
    expect(refused.status).toBe(403);
    const [event] = await auditsOf(id, auditor, "activityDisplayName eq 'Read BitLocker key'");
    expect(event.correlationId).toBe(refused.headers.get('request-id'));
    expect(event.initiatedBy).toEqual({
      user: { id: user.oid, userPrincipalName: null },
      app: { appId: user.appId, displayName: null, servicePrincipalId: null },
    });
  });
});
