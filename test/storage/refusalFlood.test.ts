import '../support/functionsCore';
import { directoryAuditsHandler } from '../../functions/auditLogs';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { resetSettings } from '../../shared/config';
import { TIME_ROWS } from '../../shared/audit/rows';
import { addToRefusalSummary, AUDIT_TABLE } from '../../shared/audit/store';
import type { AuditEvent } from '../../shared/audit/model';
import { randomUUID } from 'node:crypto';
import { flushRefusalSummaries, REFUSALS_RECORDED_PER_MINUTE } from '../../shared/audit/refusalBudget';
import { MAX_CLIENT_HEADER, MAX_USER_AGENT } from '../../shared/audit/bounded';
import { AUDIT_READ, type DirectoryAudit, auditsPath, detailOf, newOid } from '../support/audit';
import { READ, WRITE, token, type GraphJson } from '../support/client';
import { keyBody } from '../support/fixtures';
import { COLLECTION, mapLimit } from '../support/keys';
import { bodyJson, bodyText, handlerRequest, quietContext } from '../support/inProcess';
import { rawEntities } from '../support/storage';

// The audit trail cannot be drowned. 5,000 refused key reads from one identity,
// called in-process (as the Functions worker calls the handlers) against the run's Azurite, with the
// Authorization header spelt several ways and hostile headers, leave at most REFUSALS_RECORDED_PER_MINUTE
// records one by one plus one summary per minute, and those still add up to 5,000; a real key read made
// during the flood is on the newest page of GET /auditLogs/directoryAudits.
//
// On an Azurite of its own: the flood's 5,000 requests would otherwise share the run's Azurite with every
// other test file, and on a busy machine the real read's audit write could then outlast the request's
// storage deadline (a 503 caused by the neighbours, not by the flood). Loading the functions read the
// settings once already: they are read again after the storage setting points here.
//
// What this file pins is the audit trail's bound, not the storage time bounds (test/http/outage.test.ts and
// requestDeadline.test.ts pin those): 32 handlers at once in this one process keep its event loop busy, and
// on a loaded machine a storage answer can wait there past the 4 s request deadline. The bounds are
// stretched here so that the machine's speed cannot turn a refusal into a 503.
jest.mock('../../shared/storage/callLimits', () => {
  const actual = jest.requireActual<typeof import('../../shared/storage/callLimits')>('../../shared/storage/callLimits');
  const patient = { tryTimeoutMs: 60_000, callBudgetMs: 120_000, maxTries: actual.STORAGE_MAX_TRIES };
  return {
    ...actual,
    STORAGE_TRY_TIMEOUT_MS: patient.tryTimeoutMs,
    STORAGE_CALL_BUDGET_MS: patient.callBudgetMs,
    STORAGE_REQUEST_BUDGET_MS: patient.callBudgetMs,
    DEFAULT_STORAGE_CALL_LIMITS: patient,
  };
});
let azurite: RunningAzurite;
const runStorage = process.env.STORAGE_CONNECTION_STRING;
beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  process.env.STORAGE_CONNECTION_STRING = azurite.connectionString;
  resetSettings();
}, 60_000);
afterAll(async () => {
  process.env.STORAGE_CONNECTION_STRING = runStorage;
  resetSettings();
  await azurite?.stop();
});

/** GET /auditLogs/directoryAudits in process, following @odata.nextLink to the end. */
async function auditEvents(firstPath: string, auditor: string): Promise<DirectoryAudit[]> {
  const events: DirectoryAudit[] = [];
  for (let path: string | undefined = firstPath; path !== undefined;) {
    const page = await directoryAuditsHandler(handlerRequest('GET', path, auditor), context());
    expect(page.status).toBe(200);
    const json = bodyJson(page);
    events.push(...(json.value as DirectoryAudit[]));
    const next = json['@odata.nextLink'] as string | undefined;
    path = next === undefined ? undefined : new URL(next).pathname + new URL(next).search;
  }
  return events;
}

const FLOOD = 5_000;
const READ_AT = 4_000;
// The app's log lines, so that an unexpected answer fails with its cause (a 503 names the storage call).
const logs: string[] = [];
const context = () => quietContext('refusalFlood.test', logs);

// A valid token's spellings: one caller all the same.
const spellings = (jwt: string): string[] => [`Bearer ${jwt}`, `bearer ${jwt}`, `BEARER ${jwt}`, `Bearer    ${jwt}`, `Bearer ${jwt} \t`];

it(`${FLOOD} refused requests from one caller leave a bounded number of records that carry the count`, async () => {
  const writer = await token({ roles: [WRITE], claims: { oid: newOid() } });
  const reader = await token({ roles: [READ], claims: { oid: newOid() } });
  const auditor = await token({ roles: [AUDIT_READ], claims: { oid: newOid() } });
  const flooderOid = newOid();
  // The same identity under two tokens, its oid in two cases: still one caller.
  const flooders = [await token({ claims: { oid: flooderOid } }), await token({ claims: { oid: flooderOid.toUpperCase() } })];
  const authorizations = flooders.flatMap(spellings);

  const body = keyBody();
  const escrowed = await collectionHandler(handlerRequest('PATCH', COLLECTION, writer, body), context());
  expect(escrowed.status).toBe(200);

  // Header values are bytes (latin1 to Node): U+202E arrives as its UTF-8 bytes E2 80 AE, 0x80 a C1 control.
  const rightToLeftOverride = Buffer.from('\u202e').toString('latin1');
  const hostile = {
    'user-agent': `Flood/1.0 ${'\u001b[31m'.repeat(500)}${rightToLeftOverride.repeat(1_000)}${'A'.repeat(3_000)}`,
    'ocp-client-name': `n\u0001\u007fInjected: yes${'x'.repeat(2_000)}`,
    'ocp-client-version': '\u0085'.repeat(1_000),
  };
  const started = Date.now();
  let realReadId = '';
  const statuses = await mapLimit(
    Array.from({ length: FLOOD }, (_, i) => i),
    32,
    async (i) => {
      if (i === READ_AT) {
        const read = await itemHandler(
          handlerRequest('GET', `${COLLECTION}/${body.id}?$select=key`, reader, undefined, body.id),
          context(),
        );
        expect(read.status).toBe(200);
        expect(bodyJson(read).key).toBe(body.key);
        realReadId = (read.headers as Record<string, string>)['request-id']!;
      }
      const headers = { ...hostile, authorization: authorizations[i % authorizations.length] };
      const refused = await itemHandler(
        handlerRequest('GET', `${COLLECTION}/${body.id}?$select=key`, undefined, undefined, body.id, headers),
        context(),
      );
      const text = bodyText(refused);
      const code = (JSON.parse(text) as GraphJson).error.code;
      if (code !== 'authorization_error')
        throw new Error(
          `${refused.status} ${text}\n${logs
            .filter((line) => !line.includes('"status":403'))
            .slice(-5)
            .join('\n')}`,
        );
      expect(text).not.toContain(body.key);
      return refused.status;
    },
  );
  const ended = Date.now();
  expect(statuses.every((status) => status === 403)).toBe(true);
  await flushRefusalSummaries();

  // Bounded: per minute the flood touched, at most the records one by one and one summary.
  const minutes = Math.floor(ended / 60_000) - Math.floor(started / 60_000) + 1;
  const rows = await rawEntities(AUDIT_TABLE, `${TIME_ROWS} and (oid eq '${flooderOid}' or oid eq '${flooderOid.toUpperCase()}')`);
  const summaries = rows.filter((row) => row.refusedCount !== undefined);
  const single = rows.filter((row) => row.refusedCount === undefined);
  expect(summaries.length).toBeGreaterThanOrEqual(1);
  expect(summaries.length).toBeLessThanOrEqual(minutes);
  expect(single.length).toBeLessThanOrEqual(minutes * REFUSALS_RECORDED_PER_MINUTE);
  expect(rows.length).toBeLessThanOrEqual(minutes * (REFUSALS_RECORDED_PER_MINUTE + 1));
  // And they carry the count: every refusal is either a record of its own or counted in a summary.
  const counted = summaries.reduce((sum, row) => sum + Number(row.refusedCount), 0);
  expect(single.length + counted).toBe(FLOOD);

  // Client text is bounded and escaped in every row.
  for (const row of rows) {
    expect(String(row.userAgent).length).toBeLessThanOrEqual(MAX_USER_AGENT);
    expect(String(row.clientName).length).toBeLessThanOrEqual(MAX_CLIENT_HEADER);
    expect(String(row.clientVersion).length).toBeLessThanOrEqual(MAX_CLIENT_HEADER);
    for (const text of [row.userAgent, row.clientName, row.clientVersion]) expect(String(text)).not.toMatch(/\p{Cc}/u);
  }

  // The real read is on the newest page of the trail.
  const newest = await directoryAuditsHandler(handlerRequest('GET', auditsPath(), auditor), context());
  expect(newest.status).toBe(200);
  expect((bodyJson(newest).value as DirectoryAudit[]).map((event) => event.correlationId)).toContain(realReadId);

  // The summaries are in the trail with their counts. Each is dated at its minute's start, so the
  // listing is filtered from the first minute of the flood.
  const since = new Date(Math.floor(started / 60_000) * 60_000).toISOString();
  const events = await auditEvents(
    auditsPath({ $filter: `activityDisplayName eq 'Refused BitLocker key requests' and activityDateTime ge ${since}`, $top: '1000' }),
    auditor,
  );
  const summaryOfFlood = events.filter((event) => event.initiatedBy.app?.servicePrincipalId?.toLowerCase() === flooderOid);
  expect(summaryOfFlood.length).toBe(summaries.length);
  expect(summaryOfFlood.reduce((sum, event) => sum + Number(detailOf(event, 'RefusedCount')), 0)).toBe(counted);
  for (const event of summaryOfFlood) {
    expect(detailOf(event, 'Refusals')).toBe(`Read BitLocker key: 403 authorization_error × ${detailOf(event, 'RefusedCount')}`);
    expect(event).toMatchObject({ result: 'failure', operationType: 'Other', targetResources: [] });
    expect(event.activityDateTime).toMatch(/:00\.000Z$/);
  }
}, 180_000);

it('instances merging into one summary row at once lose no count (ETag-guarded merges)', async () => {
  const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  const oid = newOid();
  const id = randomUUID();
  const merge = (n: number): Promise<void> => {
    const at = new Date(minute.getTime() + n);
    const event: AuditEvent = {
      id,
      activity: 'refusals',
      at: minute,
      result: 'failure',
      resultReason: 'summary',
      source: { caller: { oid, delegated: false, permissions: new Set() }, requestId: `r${n}` },
      refusals: { count: n, tally: { [`Read BitLocker key: 403 authorization_error`]: n }, first: at, last: at },
    };
    return addToRefusalSummary(event);
  };
  // Eight "instances" add 1 to 8 refusals (36 in all) at the same moment, as their merge timers fire together.
  await Promise.all(Array.from({ length: 8 }, (_, i) => merge(i + 1)));
  const rows = await rawEntities(AUDIT_TABLE, `${TIME_ROWS} and oid eq '${oid}'`);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({
    refusedCount: 36,
    firstRefusedDateTime: new Date(minute.getTime() + 1).toISOString(),
    lastRefusedDateTime: new Date(minute.getTime() + 8).toISOString(),
  });
  expect(JSON.parse(String(rows[0].refusalTally))).toEqual({ 'Read BitLocker key: 403 authorization_error': 36 });
});
