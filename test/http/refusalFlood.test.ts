import '../support/functionsCore';
import { collectionHandler, itemHandler } from '../../functions/recoveryKeys';
import { addToRefusalSummary, AUDIT_TABLE } from '../../shared/audit/store';
import type { AuditEvent } from '../../shared/audit/model';
import { randomUUID } from 'node:crypto';
import { flushRefusalSummaries, REFUSALS_RECORDED_PER_MINUTE } from '../../shared/audit/refusals';
import { MAX_CLIENT_HEADER, MAX_USER_AGENT } from '../../shared/audit/bounded';
import { AUDIT_READ, type DirectoryAudit, auditsPath, detailOf, newOid, readAllAudits } from '../support/audit';
import { READ, WRITE, call, token, type GraphJson } from '../support/client';
import { keyBody } from '../support/fixtures';
import { COLLECTION, mapLimit } from '../support/keys';
import { bodyJson, bodyText, handlerRequest, quietContext } from '../support/inProcess';
import { rawEntities } from '../support/storage';

// The audit trail cannot be drowned (issue 8, item 5). 5,000 refused key reads from one identity,
// called in-process (as the Functions worker calls the handlers) against the run's Azurite, with the
// Authorization header spelt several ways and hostile headers, leave at most REFUSALS_RECORDED_PER_MINUTE
// records one by one plus one summary per minute, and those still add up to 5,000; a real key read made
// during the flood is on the newest page of GET /auditLogs/directoryAudits.

const FLOOD = 5_000;
const READ_AT = 4_000;
// The app's log lines, so that an unexpected answer fails with its cause (a 503 names the storage call).
const logs: string[] = [];
const context = () => quietContext('refusalFlood.test', logs);

// A valid token's spellings: one caller all the same (issue 8, item 9).
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
  const rows = await rawEntities(AUDIT_TABLE, `oid eq '${flooderOid}' or oid eq '${flooderOid.toUpperCase()}'`);
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
  const newest = await call('GET', auditsPath(), { token: auditor });
  expect(newest.status).toBe(200);
  expect((newest.json.value as DirectoryAudit[]).map((event) => event.correlationId)).toContain(realReadId);

  // The summaries are in the trail with their counts. Each is dated at its minute's start, so the
  // listing is filtered from the first minute of the flood (other test files write meanwhile).
  const since = new Date(Math.floor(started / 60_000) * 60_000).toISOString();
  const { events } = await readAllAudits(
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
  const rows = await rawEntities(AUDIT_TABLE, `oid eq '${oid}'`);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({
    refusedCount: 36,
    firstRefusedDateTime: new Date(minute.getTime() + 1).toISOString(),
    lastRefusedDateTime: new Date(minute.getTime() + 8).toISOString(),
  });
  expect(JSON.parse(String(rows[0].refusalTally))).toEqual({ 'Read BitLocker key: 403 authorization_error': 36 });
});
