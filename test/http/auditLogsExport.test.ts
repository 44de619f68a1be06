import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type EnvOverrides, type LocalHost } from '../../scripts/devhost/localHost';
import { readExportCheckpoint, saveExportCheckpoint } from '../../shared/audit/exportCheckpoint';
import { EXPORT_BATCH } from '../../shared/audit/logsExport';
import { auditEvent } from '../../shared/audit/model';
import { writeAuditEntry } from '../../shared/audit/store';
import { resetSettings } from '../../shared/config';
import { AUDIT_READ, auditsPath, type DirectoryAudit, keySpellings, secretsIn, tokenParts } from '../support/audit';
import { callOn, READ, token, WRITE } from '../support/client';
import { keyBody, newId } from '../support/fixtures';
import { COLLECTION, mapLimit } from '../support/keys';
import { startLogsIngestionStandIn, INGESTION_API_VERSION, type LogsIngestionStandIn } from '../support/logsIngestion';
import { selfSignedCertificate, startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';
import { startScript, type ScriptRun } from '../support/scripts';

// The audit trail's export to Log Analytics, end to end: a private Azurite and host take requests; the
// export (the timer's job, run by its command line, compiled, as a child process with the service's
// settings) reads the trail and uploads it with @azure/monitor-ingestion to a stand-in of the Logs
// Ingestion API over https (a certificate made here, trusted through NODE_EXTRA_CA_CERTS), with a
// token from the managed-identity stand-in. Each test uses a rule id of its own, hence a checkpoint of
// its own; each run has no lag (`--lag 0`): nothing is being written while it runs.

jest.setTimeout(180_000);

/** The columns of EscrowAudit_CL: TimeGenerated and the directoryAudit record's members, nothing else. */
const COLUMNS = [
  'TimeGenerated',
  'id',
  'category',
  'correlationId',
  'activityDisplayName',
  'activityDateTime',
  'operationType',
  'loggedByService',
  'result',
  'resultReason',
  'initiatedBy',
  'targetResources',
  'additionalDetails',
].sort();
const STREAM = 'Custom-EscrowAudit_CL';
/** The token's resource: the SDK asks for the scope https://monitor.azure.com/.default. */
const MONITOR_RESOURCE = 'https://monitor.azure.com';

let dir: string;
let certificate: { cert: string; key: string };
let azurite: RunningAzurite;
let identity: ManagedIdentityStandIn;
let host: LocalHost;
const standIns: LogsIngestionStandIn[] = [];
const saved = { ...process.env };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'escrow-logs-export-'));
  certificate = selfSignedCertificate(dir);
  [azurite, identity] = await Promise.all([startAzuriteTables({ port: 0, inMemory: true, silent: true }), startManagedIdentityStandIn()]);
  host = await startLocalHost({
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUTH_MODE: 'local',
    LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
  });
  // This process writes events straight into the same tables for the long runs.
  process.env.STORAGE_CONNECTION_STRING = azurite.connectionString;
  resetSettings();
}, 60_000);

afterAll(async () => {
  process.env = saved;
  resetSettings();
  await stopLocalHosts();
  await Promise.all(standIns.map((standIn) => standIn.close()));
  await identity?.close();
  await azurite?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A stand-in for a rule of its own, with the settings a run against it needs. */
async function ingestion(): Promise<{ standIn: LogsIngestionStandIn; env: EnvOverrides }> {
  const ruleId = `dcr-${randomBytes(16).toString('hex')}`;
  const standIn = await startLogsIngestionStandIn({
    certificate,
    token: () => identity.tokenFor(MONITOR_RESOURCE),
    ruleId,
    stream: STREAM,
  });
  standIns.push(standIn);
  const env: EnvOverrides = {
    STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUDIT_LOGS_INGESTION_ENDPOINT: standIn.endpoint,
    AUDIT_LOGS_RULE_ID: ruleId,
    IDENTITY_ENDPOINT: identity.endpoint,
    IDENTITY_HEADER: identity.header,
    NODE_EXTRA_CA_CERTS: certificate.cert,
    AUTH_MODE: 'local',
  };
  return { standIn, env };
}

const startExport = (env: EnvOverrides) => startScript('exportAuditLogs', ['--lag', '0'], env, 120_000);
const exportRun = (env: EnvOverrides): Promise<ScriptRun> => startExport(env).finished;

/** Every event the API lists, through every page. */
async function allAudits(): Promise<DirectoryAudit[]> {
  const auditor = await token({ roles: [AUDIT_READ] });
  const events: DirectoryAudit[] = [];
  let path: string | undefined = auditsPath({ $top: '999' });
  while (path !== undefined) {
    const page = await callOn(host.url, 'GET', path, { token: auditor });
    expect(page.status).toBe(200);
    events.push(...(page.json.value as unknown as DirectoryAudit[]));
    const next = page.json['@odata.nextLink'] as string | undefined;
    path = next === undefined ? undefined : next.slice(new URL(next).origin.length);
  }
  return events;
}

/** Events written straight into the trail, `count` of them over the last `spanMs`, a few sharing each millisecond. */
async function writeEvents(count: number, spanMs: number): Promise<string[]> {
  const now = Date.now() - 10_000;
  const events = Array.from({ length: count }, (_, i) => ({
    ...auditEvent({ requestId: newId(), caller: { oid: newId(), delegated: false, permissions: new Set() } }, 'read', 'success', '', {
      keyId: newId(),
      deviceId: newId(),
    }),
    at: new Date(now - Math.floor((i / count) * spanMs) - (i % 3 === 0 ? 0 : 1)),
  }));
  await mapLimit(events, 16, (event) => writeAuditEntry(event));
  return events.map((event) => event.id);
}

const idsOf = (rows: readonly Record<string, unknown>[]): Set<string> => new Set(rows.map((row) => row.id as string));

it('ships every event written through the API, each row exactly its directoryAudit record with TimeGenerated, never a password', async () => {
  const { standIn, env } = await ingestion();
  const [writer, reader] = await Promise.all([token({ roles: [WRITE] }), token({ scopes: [READ] })]);
  const key = keyBody();
  expect((await callOn(host.url, 'PATCH', `${COLLECTION}/${key.id}`, { token: writer, body: key })).status).toBe(200);
  const read = await callOn(host.url, 'GET', `${COLLECTION}/${key.id}?$select=key`, {
    token: reader,
    headers: { 'X-Reveal-Reason': 'lostPin' },
  });
  expect(read.json.key).toBe(key.key);
  // A flood of refusals from one caller in one minute: ten recorded one by one, the rest in a summary row.
  if (new Date().getUTCSeconds() > 45) await new Promise((resolve) => setTimeout(resolve, (61 - new Date().getUTCSeconds()) * 1000));
  const stranger = await token({ roles: [] });
  for (let i = 0; i < 14; i++)
    expect((await callOn(host.url, 'GET', `${COLLECTION}/${key.id}?$select=key`, { token: stranger })).status).toBe(403);
  await new Promise((resolve) => setTimeout(resolve, 2_500)); // the summary is merged about a second after

  const run = await exportRun(env);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const listed = await allAudits();
  expect(listed.map((event) => event.activityDisplayName)).toEqual(
    expect.arrayContaining(['Add BitLocker key', 'Read BitLocker key', 'Refused BitLocker key requests']),
  );
  // Each event once, as the API shows it, plus TimeGenerated = activityDateTime; nothing more, nothing less.
  expect(standIn.rows.length).toBe(listed.length);
  const rowsById = new Map(standIn.rows.map((row) => [row.id as string, row]));
  for (const event of listed) {
    const row = rowsById.get(event.id);
    expect(row).toEqual({ TimeGenerated: event.activityDateTime, ...event });
    expect(Object.keys(row!).sort()).toEqual(COLUMNS);
  }
  // What the Sentinel rules read: the reader as initiatedBy.user.id, the key as targetResources[0].id, DeviceId in additionalDetails.
  const reveal = standIn.rows.find(
    (row) => row.activityDisplayName === 'Read BitLocker key' && row.result === 'success',
  ) as unknown as DirectoryAudit;
  expect(reveal.initiatedBy.user?.id).toEqual(expect.any(String));
  expect(reveal.targetResources[0].id).toBe(key.id);
  expect(reveal.additionalDetails).toContainEqual({ key: 'DeviceId', value: key.deviceId });
  // The documented request: the rule's stream, api-version, gzip'd JSON, the monitor token, 204.
  expect(standIn.requests.map((r) => [r.stream, r.apiVersion, r.contentEncoding, r.contentType?.split(';')[0], r.status])).toEqual(
    standIn.requests.map(() => [STREAM, INGESTION_API_VERSION, 'gzip', 'application/json', 204]),
  );
  expect(identity.requests.map((r) => r.resource)).toContain(MONITOR_RESOURCE);
  // The audit holds no password, and so neither does the export, in any spelling; nor any token in the output.
  expect(secretsIn(standIn.acceptedBodies.join('\n'), keySpellings(key.key!))).toEqual([]);
  expect(secretsIn(run.stdout + run.stderr, [...tokenParts(await identity.tokenFor(MONITOR_RESOURCE)), ...keySpellings(key.key!)])).toEqual(
    [],
  );
  expect(run.stdout).toMatch(new RegExp(`^export-audit-logs: ${listed.length} events in \\d+ uploads; exported through \\S+\n$`));

  // A second run sends only what is new.
  const later = keyBody();
  expect((await callOn(host.url, 'PATCH', `${COLLECTION}/${later.id}`, { token: writer, body: later })).status).toBe(200);
  const second = await exportRun(env);
  expect(second.code).toBe(0);
  const added = standIn.rows.slice(listed.length);
  expect(added.map((row) => [row.activityDisplayName, (row as unknown as DirectoryAudit).targetResources[0].id])).toEqual([
    ['Add BitLocker key', later.id],
  ]);
});

it('an upload killed halfway resumes at the last accepted batch: no gap, nothing accepted sent again', async () => {
  await writeEvents(3 * EXPORT_BATCH, 30 * 60_000);
  const { standIn, env } = await ingestion();
  // The first upload is accepted; the second is held until the export is killed.
  standIn.plan('accept', 'hold');
  const arrived = standIn.arrivals(2);
  const running = startExport(env);
  // (Should the export end first, it failed: its output says why.)
  const ended = await Promise.race([arrived.then(() => undefined), running.finished]);
  expect(ended).toBeUndefined();
  running.kill('SIGKILL');
  await running.finished;
  const first = standIn.rows.length;
  expect(first).toBeGreaterThan(0);

  const resumed = await exportRun(env);
  expect(resumed.code).toBe(0);
  const listed = await allAudits();
  expect(listed.length).toBeGreaterThan(3 * EXPORT_BATCH);
  expect(idsOf(standIn.rows)).toEqual(new Set(listed.map((event) => event.id)));
  expect(standIn.rows.length).toBe(listed.length);
  // The SDK keeps every call under the API's 1 MB: none was refused as too large.
  expect(standIn.requests.filter((request) => request.status === 413 || request.bytes > 1_000_000)).toEqual([]);
});

it('a run whose uploads fail (503) says why and keeps the checkpoint; the next run sends the rest, each batch accepted once', async () => {
  await writeEvents(2 * EXPORT_BATCH, 10 * 60_000);
  const { standIn, env } = await ingestion();
  const all = await allAudits();
  // The first upload goes in; then the endpoint answers 503 to every try (the SDK's retries included).
  standIn.plan('accept');
  standIn.otherwise({ status: 503, retryAfterSeconds: 0 });
  const failed = await exportRun(env);
  expect(failed.code).toBe(2);
  expect(failed.stderr).toMatch(/^export-audit-logs: stopped: 503 .*\. Exported through \S+; rerun to continue\.\n$/);
  expect(secretsIn(failed.stderr, tokenParts(await identity.tokenFor(MONITOR_RESOURCE)))).toEqual([]);
  const first = standIn.rows.length;
  expect(first).toBeGreaterThan(0);
  expect(first).toBeLessThan(all.length);
  expect(standIn.requests.filter((request) => request.status === 503).length).toBeGreaterThan(1);

  standIn.otherwise('accept');
  const retried = await exportRun(env);
  expect(retried.code).toBe(0);
  expect(idsOf(standIn.rows)).toEqual(new Set(all.map((event) => event.id)));
  expect(standIn.rows.length).toBe(all.length);
});

it('a 429 with Retry-After is waited out within the run', async () => {
  const { standIn, env } = await ingestion();
  standIn.plan({ status: 429, retryAfterSeconds: 1 });
  const run = await exportRun(env);
  expect(run.code).toBe(0);
  expect(standIn.requests.map((request) => request.status)).toEqual([429, ...standIn.requests.slice(1).map(() => 204)]);
  expect(idsOf(standIn.rows)).toEqual(new Set((await allAudits()).map((event) => event.id)));
});

it('a run whose checkpoint is moved back meanwhile stops after its accepted batch; the next run sends from there again', async () => {
  const { standIn, env } = await ingestion();
  const ruleId = env.AUDIT_LOGS_RULE_ID!;
  standIn.plan('hold');
  const arrived = standIn.arrivals(1);
  const running = startExport(env);
  const ended = await Promise.race([arrived.then(() => undefined), running.finished]);
  expect(ended).toBeUndefined();
  // While the first upload is in flight, the checkpoint is moved back a day (as the outbox merge moves it).
  const stored = await readExportCheckpoint(ruleId, STREAM);
  await saveExportCheckpoint(ruleId, STREAM, stored, { exportedThrough: new Date(Date.now() - 86_400_000), exportedEvents: 0 });
  standIn.release();
  const stopped = await running.finished;
  expect(stopped.code).toBe(0);
  expect(stopped.stdout).toMatch(/ \(its checkpoint was moved meanwhile: run again\)\n$/);
  const first = standIn.rows.length;
  expect(first).toBeGreaterThan(0);

  expect((await exportRun(env)).code).toBe(0);
  const all = await allAudits();
  expect(idsOf(standIn.rows)).toEqual(new Set(all.map((event) => event.id)));
  // The batch accepted before the move is sent again: at least once.
  expect(standIn.rows.length).toBe(all.length + first);
});
