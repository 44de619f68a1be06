import { expect } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { READ, READ_BASIC, WRITE, call, expectGraphError, token, type ApiResponse } from '../support/client';
import { keyBody, newId, recoveryPassword } from '../support/fixtures';
import { COLLECTION, item } from '../support/keys';
import { rawEntities } from '../support/storage';
import {
  AUDIT_READ,
  type DirectoryAudit,
  auditsPath,
  detailOf,
  keySpellings,
  newOid,
  readAllAudits,
  secretsIn,
  targetFilter,
  tokenParts,
} from '../support/audit';
import { TABLES } from '../../shared/storage/layout';

// The audit trail over HTTP against the run's local host (spec "Audit trail"): every write, delete
// and key read, allowed or refused, is listed by GET /auditLogs/directoryAudits in Graph's
// directoryAudit shape, newest first, and never holds a recovery key or a token. Each test isolates
// its own events with targetResources/any(...) on fresh key ids, so parallel tests do not disturb it.

// Distinct callers: the ids an audit record must name, and rate-limit buckets of their own.
const writerApp = { oid: newOid(), appId: newId() };
const readerApp = { oid: newOid(), appId: newId() };
const helpdesk = { oid: newOid(), appId: newId(), upn: 'helpdesk.audit@contoso.local' };

let writer: string;
let reader: string;
let basicUser: string;
let auditor: string;
/** Every token used in this file: none of them may show up in an audit record. */
const tokens: string[] = [];
/** Every recovery password used in this file. */
const passwords: string[] = [];
/** Every directoryAudits response body read in this file, scanned for secrets at the end. */
const auditTexts: string[] = [];

beforeAll(async () => {
  [writer, reader, basicUser, auditor] = await Promise.all([
    token({ roles: [WRITE], claims: { oid: writerApp.oid, appid: writerApp.appId } }),
    token({ roles: [READ], claims: { oid: readerApp.oid, appid: readerApp.appId } }),
    token({ scopes: [READ_BASIC], claims: { oid: helpdesk.oid, appid: helpdesk.appId, upn: helpdesk.upn } }),
    token({ roles: [AUDIT_READ], claims: { oid: newOid() } }),
  ]);
  tokens.push(writer, reader, basicUser, auditor);
});

/** Reads a key's events, keeping the raw text for the final secret scan. */
async function eventsOf(keyId: string, extra?: string): Promise<DirectoryAudit[]> {
  const filter = extra ? `${targetFilter(keyId)} and ${extra}` : targetFilter(keyId);
  const traversal = await readAllAudits(auditsPath({ $filter: filter }), auditor);
  auditTexts.push(...traversal.pages.map((p) => p.text));
  return traversal.events;
}

async function listAudits(options: Record<string, string>, bearer = auditor): Promise<ApiResponse> {
  const response = await call('GET', auditsPath(options), { token: bearer });
  auditTexts.push(response.text);
  return response;
}

const requestIdOf = (response: ApiResponse): string => response.headers.get('request-id')!;

/** A new key, escrowed with PATCH by the writer app; its password is remembered for the secret scans. */
async function escrow(overrides: Parameters<typeof keyBody>[0] = {}) {
  const body = keyBody(overrides);
  passwords.push(body.key!);
  const response = await call('PATCH', item(body.id!), { token: writer, body });
  expect(response.status).toBe(200);
  return { body, response };
}

// Consecutive requests a few milliseconds apart, so that "newest first" has one right answer.
const GAP_MS = 3;

describe('GET /auditLogs/directoryAudits records key reads', () => {
  it('lists a refused and an allowed key read, newest first, in the directoryAudit shape', async () => {
    const { body } = await escrow();
    const id = body.id!;
    await sleep(GAP_MS);

    const refused = await call('GET', `${item(id)}?$select=key`, {
      token: basicUser,
      headers: { 'User-Agent': 'HelpdeskPortal/2.1', 'ocp-client-name': 'helpdesk-portal', 'ocp-client-version': '2.1.0' },
    });
    expectGraphError(refused, 403, 'authorization_error');
    expect(refused.text).not.toContain(body.key);
    await sleep(GAP_MS);

    const allowed = await call('GET', `${item(id)}?$select=key`, { token: reader, headers: { 'User-Agent': 'KeyReader/1.0' } });
    expect(allowed.status).toBe(200);
    expect(allowed.json.key).toBe(body.key);

    const reads = await eventsOf(id, "activityDisplayName eq 'Read BitLocker key'");
    expect(reads).toHaveLength(2);
    const [success, failure] = reads as [DirectoryAudit, DirectoryAudit];

    // Newest first: the allowed read came second.
    expect(Date.parse(success.activityDateTime)).toBeGreaterThanOrEqual(Date.parse(failure.activityDateTime));
    expect(success).toEqual({
      id: expect.any(String),
      category: 'KeyManagement',
      correlationId: requestIdOf(allowed),
      result: 'success',
      // The first reveal: its own record names the disclosure (ROTATE_AFTER_REVEAL).
      resultReason: `Disclosed: the first reveal of key ${success.targetResources[0].id}; rotation required (ROTATE_AFTER_REVEAL).`,
      activityDisplayName: 'Read BitLocker key',
      activityDateTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      loggedByService: 'BitLocker key escrow',
      operationType: 'Read',
      initiatedBy: { user: null, app: { appId: readerApp.appId, displayName: null, servicePrincipalId: readerApp.oid } },
      targetResources: [{ id, displayName: id, type: 'BitLockerKey' }],
      additionalDetails: expect.arrayContaining([
        { key: 'DeviceId', value: body.deviceId },
        { key: 'User-Agent', value: 'KeyReader/1.0' },
      ]),
    });
    expect(detailOf(success, 'ocp-client-name')).toBeUndefined();

    expect(failure).toMatchObject({
      category: 'KeyManagement',
      correlationId: requestIdOf(refused),
      result: 'failure',
      activityDisplayName: 'Read BitLocker key',
      operationType: 'Read',
      initiatedBy: { user: { id: helpdesk.oid, userPrincipalName: helpdesk.upn }, app: { appId: helpdesk.appId } },
      targetResources: [{ id, displayName: id, type: 'BitLockerKey' }],
    });
    // The reason says why: the permission it lacked.
    expect(failure.resultReason).toMatch(/403/);
    expect(failure.resultReason).toContain('BitLockerKey.Read.All');
    expect(detailOf(failure, 'User-Agent')).toBe('HelpdeskPortal/2.1');
    expect(detailOf(failure, 'ocp-client-name')).toBe('helpdesk-portal');
    expect(detailOf(failure, 'ocp-client-version')).toBe('2.1.0');
    expect(success.id).not.toBe(failure.id);

    // The same events under /beta and without a version prefix.
    for (const prefix of ['/beta', '']) {
      const other = await call('GET', `${prefix}/auditLogs/directoryAudits?$filter=${encodeURIComponent(targetFilter(id))}`, {
        token: auditor,
      });
      expect(other.status).toBe(200);
      expect((other.json.value as DirectoryAudit[]).map((e) => e.correlationId)).toEqual(
        expect.arrayContaining([requestIdOf(allowed), requestIdOf(refused)]),
      );
      expect(other.json['@odata.context']).toMatch(/\/\$metadata#auditLogs\/directoryAudits$/);
    }
  });

  it('does not record metadata reads, nor requests without a valid token', async () => {
    const { body, response: escrowed } = await escrow();
    const id = body.id!;
    expect((await call('GET', item(id), { token: reader })).status).toBe(200);
    expect((await call('GET', `${COLLECTION}?$filter=${encodeURIComponent(`id eq '${id}'`)}`, { token: reader })).status).toBe(200);
    const unauthenticated = [
      await call('GET', `${item(id)}?$select=key`),
      await call('GET', `${item(id)}?$select=key`, { token: 'not.a.token' }),
      await call('PATCH', item(id), { body: { volumeType: 'fixedDataVolume' } }),
      await call('DELETE', item(id), { token: await token({ roles: [WRITE], expiresIn: -3600 }) }),
    ];
    for (const response of unauthenticated) expectGraphError(response, 401, 'InvalidAuthenticationToken');

    const events = await eventsOf(id);
    // Only the escrow itself.
    expect(events.map((e) => [e.activityDisplayName, e.result, e.correlationId])).toEqual([
      ['Add BitLocker key', 'success', requestIdOf(escrowed)],
    ]);
    // Nor anywhere else in the trail (a 401's event would not necessarily name the key).
    const around = await readAllAudits(
      auditsPath({ $filter: `activityDateTime ge ${new Date(Date.now() - 60_000).toISOString()}`, $top: '1000' }),
      auditor,
    );
    const correlationIds = new Set(around.events.map((e) => e.correlationId));
    for (const response of unauthenticated) expect(correlationIds.has(requestIdOf(response))).toBe(false);
  });
});

describe('writes in the audit trail', () => {
  it('records add, update, no-change update, refused update and delete, newest first, each with its request-id', async () => {
    const headers = { 'User-Agent': 'EscrowAgent/3.0', 'ocp-client-name': 'escrow-agent', 'ocp-client-version': '3.0.1' };
    const body = keyBody();
    const id = body.id!;
    passwords.push(body.key!);

    const added = await call('POST', COLLECTION, { token: writer, body, headers });
    expect(added.status).toBe(201);
    await sleep(GAP_MS);
    const update = { volumeType: 'fixedDataVolume' };
    const updated = await call('PATCH', item(id), { token: writer, body: update, headers });
    expect(updated.status).toBe(200);
    await sleep(GAP_MS);
    const repeated = await call('PATCH', item(id), { token: writer, body: update, headers });
    expect(repeated.status).toBe(200);
    await sleep(GAP_MS);
    const otherKey = recoveryPassword();
    passwords.push(otherKey);
    const refusedWrite = await call('PATCH', item(id), { token: reader, body: { key: otherKey }, headers });
    expectGraphError(refusedWrite, 403, 'authorization_error');
    await sleep(GAP_MS);
    const deleted = await call('DELETE', item(id), { token: writer, headers });
    expect(deleted.status).toBe(204);

    const events = await eventsOf(id);
    expect(events.map((e) => ({ activity: e.activityDisplayName, result: e.result, correlationId: e.correlationId }))).toEqual([
      { activity: 'Delete BitLocker key', result: 'success', correlationId: requestIdOf(deleted) },
      { activity: 'Update BitLocker key', result: 'failure', correlationId: requestIdOf(refusedWrite) },
      { activity: 'Update BitLocker key', result: 'success', correlationId: requestIdOf(repeated) },
      { activity: 'Update BitLocker key', result: 'success', correlationId: requestIdOf(updated) },
      { activity: 'Add BitLocker key', result: 'success', correlationId: requestIdOf(added) },
    ]);
    const [del, refused, noChange, change, add] = events as [
      DirectoryAudit,
      DirectoryAudit,
      DirectoryAudit,
      DirectoryAudit,
      DirectoryAudit,
    ];
    expect(add.operationType).toBe('Add');
    expect(change.operationType).toBe('Update');
    expect(del.operationType).toBe('Delete');
    expect(change.resultReason).toBe('');
    expect(noChange.resultReason).toMatch(/no change/i);
    expect(refused.resultReason).toMatch(/403/);
    expect(refused.resultReason).toContain('BitLockerKey.ReadWrite.All');
    for (const event of [add, change, noChange, del]) {
      expect(event.initiatedBy).toEqual({
        user: null,
        app: { appId: writerApp.appId, displayName: null, servicePrincipalId: writerApp.oid },
      });
      expect(detailOf(event, 'DeviceId')).toBe(body.deviceId);
    }
    expect(refused.initiatedBy.app?.appId).toBe(readerApp.appId);
    for (const event of events) {
      expect(event.targetResources).toMatchObject([{ id, displayName: id, type: 'BitLockerKey' }]);
      expect(detailOf(event, 'User-Agent')).toBe('EscrowAgent/3.0');
      expect(detailOf(event, 'ocp-client-name')).toBe('escrow-agent');
      expect(detailOf(event, 'ocp-client-version')).toBe('3.0.1');
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('records a PATCH that creates a key as an add, and a failed write with its reason', async () => {
    const { body, response } = await escrow();
    const id = body.id!;
    // A refused body (valid token and permission): a failure record, the body's key nowhere in it.
    const rejectedKey = recoveryPassword();
    passwords.push(rejectedKey);
    const bad = await call('PATCH', item(id), { token: writer, body: { key: rejectedKey, recoveryPassword: rejectedKey } });
    expectGraphError(bad, 400, 'badRequest');
    const events = await eventsOf(id);
    expect(events.map((e) => [e.activityDisplayName, e.result, e.correlationId])).toEqual([
      ['Update BitLocker key', 'failure', requestIdOf(bad)],
      ['Add BitLocker key', 'success', requestIdOf(response)],
    ]);
    expect(events[0].resultReason).toMatch(/^400 badRequest: /);
    expect(events[0].resultReason).toContain('recoveryPassword');
  });

  it('names the user of a delegated token: id is the oid, userPrincipalName the upn', async () => {
    const user = { oid: newOid(), appId: newId(), upn: 'escrow.user@contoso.local' };
    const delegatedWriter = await token({
      scopes: ['BitlockerKey.ReadWrite.All'],
      claims: { oid: user.oid, appid: user.appId, upn: user.upn },
    });
    tokens.push(delegatedWriter);
    const body = keyBody();
    passwords.push(body.key!);
    const response = await call('PATCH', COLLECTION, { token: delegatedWriter, body });
    expect(response.status).toBe(200);
    const [event] = await eventsOf(body.id!);
    expect(event.initiatedBy).toEqual({
      user: { id: user.oid, userPrincipalName: user.upn },
      app: { appId: user.appId, displayName: null, servicePrincipalId: null },
    });
  });
});

describe('$filter, $top and paging', () => {
  let id: string;
  let t0: Date;
  let tMid: Date;
  let t1: Date;
  /** request-ids of the key's events, oldest first. */
  const early: string[] = [];
  const late: string[] = [];

  beforeAll(async () => {
    t0 = new Date();
    await sleep(10);
    const { body, response } = await escrow();
    id = body.id!;
    early.push(requestIdOf(response));
    for (let i = 0; i < 2; i++) {
      await sleep(GAP_MS);
      const read = await call('GET', `${item(id)}?$select=key`, { token: reader });
      expect(read.status).toBe(200);
      early.push(requestIdOf(read));
    }
    await sleep(15);
    tMid = new Date();
    await sleep(15);
    for (const volumeType of ['fixedDataVolume', 'removableDataVolume', 'operatingSystemVolume']) {
      const patched = await call('PATCH', item(id), { token: writer, body: { volumeType } });
      expect(patched.status).toBe(200);
      late.push(requestIdOf(patched));
      await sleep(GAP_MS);
    }
    const refused = await call('GET', `${item(id)}?$select=key`, { token: basicUser });
    expect(refused.status).toBe(403);
    late.push(requestIdOf(refused));
    await sleep(10);
    t1 = new Date();
  });

  const ids = (events: DirectoryAudit[]): string[] => events.map((e) => e.correlationId);
  const newestFirst = (requestIds: string[]): string[] => [...requestIds].reverse();

  it('activityDateTime ge and le bound the events, alone and together', async () => {
    const all = newestFirst([...early, ...late]);
    expect(ids(await eventsOf(id))).toEqual(all);
    expect(ids(await eventsOf(id, `activityDateTime ge ${t0.toISOString()} and activityDateTime le ${t1.toISOString()}`))).toEqual(all);
    expect(ids(await eventsOf(id, `activityDateTime ge ${tMid.toISOString()}`))).toEqual(newestFirst(late));
    expect(ids(await eventsOf(id, `activityDateTime le ${tMid.toISOString()}`))).toEqual(newestFirst(early));
    expect(ids(await eventsOf(id, `activityDateTime ge ${t1.toISOString()}`))).toEqual([]);
    expect(ids(await eventsOf(id, `activityDateTime le ${t0.toISOString()}`))).toEqual([]);
    // Bounds are inclusive, to the millisecond.
    const [newest] = await eventsOf(id);
    const at = newest.activityDateTime;
    expect(ids(await eventsOf(id, `activityDateTime ge ${at} and activityDateTime le ${at}`))).toEqual([newest.correlationId]);
    // In either order, and with seconds-only precision.
    const wholeSeconds = (d: Date, up: boolean): string =>
      new Date(Math.floor(d.getTime() / 1000) * 1000 + (up ? 1000 : 0)).toISOString().replace('.000Z', 'Z');
    expect(
      ids(await eventsOf(id, `activityDateTime le ${wholeSeconds(t1, true)} and activityDateTime ge ${wholeSeconds(t0, false)}`)),
    ).toEqual(all);
  });

  it('activityDisplayName eq, alone and combined with the dates', async () => {
    expect(ids(await eventsOf(id, "activityDisplayName eq 'Update BitLocker key'"))).toEqual(newestFirst(late.slice(0, 3)));
    expect(ids(await eventsOf(id, "activityDisplayName eq 'Add BitLocker key'"))).toEqual([early[0]]);
    expect(ids(await eventsOf(id, "activityDisplayName eq 'Delete BitLocker key'"))).toEqual([]);
    expect(ids(await eventsOf(id, `activityDisplayName eq 'Read BitLocker key' and activityDateTime le ${tMid.toISOString()}`))).toEqual(
      newestFirst(early.slice(1)),
    );
    expect(
      ids(
        await eventsOf(
          id,
          `activityDateTime ge ${tMid.toISOString()} and activityDisplayName eq 'Read BitLocker key' and activityDateTime le ${t1.toISOString()}`,
        ),
      ),
    ).toEqual([late[3]]);
  });

  it('without a target filter, a time window holds these events among others, newest first', async () => {
    const window = `activityDateTime ge ${t0.toISOString()} and activityDateTime le ${t1.toISOString()}`;
    const { events, pages } = await readAllAudits(auditsPath({ $filter: window, $top: '5' }), auditor);
    auditTexts.push(...pages.map((p) => p.text));
    expect(ids(events)).toEqual(expect.arrayContaining([...early, ...late]));
    const times = events.map((e) => Date.parse(e.activityDateTime));
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeLessThanOrEqual(times[i - 1]);
    for (const time of times) {
      expect(time).toBeGreaterThanOrEqual(t0.getTime());
      expect(time).toBeLessThanOrEqual(t1.getTime());
    }
  });

  it('$top pages through @odata.nextLink without duplicates or gaps', async () => {
    const whole = await eventsOf(id);
    expect(whole).toHaveLength(7);
    for (const top of ['1', '2', '3', '7']) {
      const traversal = await readAllAudits(auditsPath({ $filter: targetFilter(id), $top: top }), auditor);
      auditTexts.push(...traversal.pages.map((p) => p.text));
      for (const page of traversal.pages) expect(page.json.value.length).toBeLessThanOrEqual(Number(top));
      expect(traversal.events).toEqual(whole);
      const next = traversal.pages[0].json['@odata.nextLink'] as string | undefined;
      if (top !== '7') {
        // The link keeps the filter and $top, and adds the page token.
        const url = new URL(next!);
        expect(url.searchParams.get('$skiptoken')).toEqual(expect.any(String));
        expect(url.pathname).toBe('/v1.0/auditLogs/directoryAudits');
        expect(url.searchParams.get('$filter')).toBe(targetFilter(id));
        expect(url.searchParams.get('$top')).toBe(top);
      }
    }
  });

  it('refuses a $skiptoken under another filter, and a tampered one', async () => {
    const first = await listAudits({ $filter: targetFilter(id), $top: '2' });
    const skipToken = new URL(first.json['@odata.nextLink']).searchParams.get('$skiptoken')!;
    expectGraphError(await listAudits({ $filter: targetFilter(newId()), $top: '2', $skiptoken: skipToken }), 400, 'badRequest');
    expectGraphError(await listAudits({ $filter: targetFilter(id), $top: '2', $skiptoken: `${skipToken}x` }), 400, 'badRequest');
    expectGraphError(await listAudits({ $top: '2', $skiptoken: 'garbage' }), 400, 'badRequest');
  });

  it.each([
    ['an unknown property', "result eq 'success'"],
    ['an unsupported operator on dates', 'activityDateTime ne 2026-01-01T00:00:00Z'],
    ['eq on dates', 'activityDateTime eq 2026-01-01T00:00:00Z'],
    ['a quoted date', "activityDateTime ge '2026-01-01T00:00:00Z'"],
    ['a date without zone', 'activityDateTime ge 2026-01-01T00:00:00'],
    ['an impossible date', 'activityDateTime ge 2026-13-45T00:00:00Z'],
    ['an unknown activity', "activityDisplayName eq 'Read BitLocker Key'"],
    ['an activity without quotes', 'activityDisplayName eq Read'],
    ['a target that is not a GUID', "targetResources/any(t:t/id eq 'not-a-guid')"],
    ['a mismatched lambda variable', "targetResources/any(t:x/id eq '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e')"],
    ['a target without any()', "targetResources/id eq '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e'"],
    ['or', "activityDisplayName eq 'Add BitLocker key' or activityDisplayName eq 'Read BitLocker key'"],
    ['a dangling and', "activityDisplayName eq 'Add BitLocker key' and"],
    ['a repeated condition', "activityDisplayName eq 'Add BitLocker key' and activityDisplayName eq 'Read BitLocker key'"],
    ['an empty filter', ''],
    ['ge later than le', 'activityDateTime ge 2026-01-02T00:00:00Z and activityDateTime le 2026-01-01T00:00:00Z'],
    ['an unbalanced parenthesis', "targetResources/any(t:t/id eq '2d7b3c6a-8f0e-4b1d-9a53-0c2e7f1d4b6e'"],
  ])('answers 400 to a $filter with %s', async (_what, filter) => {
    const response = await listAudits({ $filter: filter });
    const error = expectGraphError(response, 400, 'badRequest');
    expect(error.message).toMatch(/\$filter/);
  });

  it('says which bound is wrong when ge is later than le', async () => {
    const response = await listAudits({ $filter: `activityDateTime ge ${t1.toISOString()} and activityDateTime le ${t0.toISOString()}` });
    expect(expectGraphError(response, 400, 'badRequest').message).toMatch(/ge is later than .*le/);
  });

  it.each([
    ['$orderby', { $orderby: 'activityDateTime desc' }],
    ['$select', { $select: 'id' }],
    ['$count', { $count: 'true' }],
    ['$search', { $search: 'key' }],
    ['$skip', { $skip: '1' }],
    ['a misspelt option', { $Filter: "activityDisplayName eq 'Add BitLocker key'" }],
    ['an option without $', { top: '5' }],
    ['$top of 0', { $top: '0' }],
    ['$top above 1000', { $top: '1001' }],
    ['$top that is not a number', { $top: 'ten' }],
  ])('answers 400 to %s', async (_what, options) => {
    expectGraphError(await listAudits(options), 400, 'badRequest');
  });

  it('answers 400 to a repeated option', async () => {
    const response = await call('GET', `${auditsPath({ $top: '1' })}&$top=2`, { token: auditor });
    expectGraphError(response, 400, 'badRequest');
  });
});

describe('who may read the audit trail', () => {
  it.each([
    ['BitLockerKey.Read.All', () => token({ roles: [READ] })],
    ['BitLockerKey.ReadWrite.All', () => token({ roles: [WRITE] })],
    ['BitLockerKey.ReadBasic.All (delegated)', () => token({ scopes: [READ_BASIC] })],
    ['no permission at all', () => token({})],
  ])('answers 403 to %s', async (_name, bearer) => {
    const forbiddenToken = await bearer();
    tokens.push(forbiddenToken);
    const response = await call('GET', auditsPath(), { token: forbiddenToken });
    expect(expectGraphError(response, 403, 'authorization_error').message).toContain('AuditLog.Read.All');
    expect(response.json).not.toHaveProperty('value');
  });

  it.each([
    ['as an app role', () => token({ roles: [AUDIT_READ] })],
    ['as a delegated scope', () => token({ scopes: [AUDIT_READ] })],
    ['spelt in another case', () => token({ roles: ['auditlog.read.all'] })],
  ])('answers 200 to AuditLog.Read.All %s', async (_how, bearer) => {
    const response = await call('GET', auditsPath({ $top: '1' }), { token: await bearer() });
    expect(response.status).toBe(200);
    expect(Array.isArray(response.json.value)).toBe(true);
  });

  it('answers 401 without a token, with a garbage one and with an expired one', async () => {
    for (const bearer of [undefined, 'garbage', await token({ roles: [AUDIT_READ], expiresIn: -3600 })]) {
      const response = await call('GET', auditsPath(), { token: bearer });
      expectGraphError(response, 401, 'InvalidAuthenticationToken');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });

  it('answers 405 to other methods', async () => {
    const response = await call('POST', auditsPath(), { token: auditor, body: {} });
    expectGraphError(response, 405, 'methodNotAllowed');
  });
});

describe('no secret in the audit trail', () => {
  it('holds no recovery key and no token, however a request carried them', async () => {
    const { body } = await escrow();
    const id = body.id!;
    const stray = recoveryPassword();
    passwords.push(stray);
    // A key where it does not belong: in an unknown property's value, in a wrong property, as a
    // property name, in a header, in the URL; by a caller with and without the permission.
    const attempts = [
      await call('PATCH', item(id), { token: writer, body: { notes: stray } }),
      await call('PATCH', item(id), { token: writer, body: { deviceId: stray } }),
      await call('PATCH', item(id), { token: writer, body: { [stray]: 'x' } }),
      await call('PATCH', item(id), { token: writer, rawBody: `{"key":"${stray}"`, headers: { 'Content-Type': 'application/json' } }),
      await call('PATCH', item(id), { token: reader, body: { key: stray } }),
      await call('POST', COLLECTION, { token: reader, body: keyBody({ id, key: stray }) }),
      await call('GET', `${item(id)}?$select=key`, {
        token: basicUser,
        headers: { 'User-Agent': `Portal (${stray.replace(/-/g, ' ')})`, 'ocp-client-name': stray },
      }),
      await call('GET', `${item(id)}?$select=key`, { token: basicUser, headers: { 'ocp-client-version': `Bearer ${basicUser}` } }),
      await call('GET', `${item(stray)}?$select=key`, { token: reader }),
      await call('DELETE', item(stray), { token: writer }),
    ];
    for (const response of attempts) expect([400, 403]).toContain(response.status);

    // The listing of this key's events, and the raw AuditLog rows of every request of this file.
    const events = await eventsOf(id);
    expect(events.length).toBeGreaterThanOrEqual(7);
    const rows = await rawEntities(TABLES.auditLog, `activityDateTime ge '${new Date(Date.now() - 10 * 60_000).toISOString()}'`);
    const text = JSON.stringify([auditTexts, rows]);
    const secrets = [...passwords.flatMap(keySpellings), ...tokens.flatMap(tokenParts)];
    expect(secretsIn(text, secrets)).toEqual([]);
  });
});
