import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/localHost';
import { MAX_ATTEMPTS, processIntuneRotations } from '../../shared/alerts/intuneRotation';
import { resetSettings } from '../../shared/config';
import { AUDIT_READ, auditsPath, type DirectoryAudit, targetFilter } from '../support/audit';
import { callOn, READ, token, WRITE } from '../support/client';
import { keyBody, type KeyBody } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { type GraphStandIn, startGraphStandIn } from '../support/graphStandIn';
import { GRAPH_RESOURCE, startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';

// INTUNE_ROTATE_ON_REVEAL on a host of its own: a key read answers at once and queues the rotation;
// the timer's work (processIntuneRotations, run here in the test process against the same Azurite, as
// the timer runs it in the app) asks the Graph stand-in's Intune, with the real @azure/identity
// credential against the managed-identity stand-in, and every step is in the audit trail.

jest.setTimeout(120_000);

const ACTIVITY = 'Request BitLocker key rotation from Intune';

let host: LocalHost;
let graph: GraphStandIn;
let identity: ManagedIdentityStandIn;
let writer: string;
let auditor: string;
const saved = { ...process.env };

beforeAll(async () => {
  identity = await startManagedIdentityStandIn({
    claims: { roles: ['DeviceManagementManagedDevices.Read.All', 'DeviceManagementManagedDevices.PrivilegedOperations.All'] },
  });
  graph = await startGraphStandIn(await identity.tokenFor(GRAPH_RESOURCE));
  host = await startLocalHost({ AUTH_MODE: 'local', LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR, INTUNE_ROTATE_ON_REVEAL: 'true' });
  // The timer's settings, in this process: the same tables, Graph and the managed identity stand-ins.
  Object.assign(process.env, {
    INTUNE_ROTATE_ON_REVEAL: 'true',
    GRAPH_BASE_URL: graph.url,
    IDENTITY_ENDPOINT: identity.endpoint,
    IDENTITY_HEADER: identity.header,
  });
  resetSettings();
  [writer, auditor] = await Promise.all([token({ roles: [WRITE] }), token({ roles: [AUDIT_READ] })]);
}, 60_000);

afterAll(async () => {
  process.env = saved;
  resetSettings();
  await stopLocalHosts();
  await graph.close();
  await identity.close();
});

async function escrowed(): Promise<KeyBody> {
  const body = keyBody();
  expect((await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: writer, body })).status).toBe(200);
  return body;
}

async function rotationAudits(keyId: string): Promise<DirectoryAudit[]> {
  const filter = `${targetFilter(keyId)} and activityDisplayName eq '${ACTIVITY}'`;
  const page = await callOn(host.url, 'GET', auditsPath({ $filter: filter }), { token: auditor });
  expect(page.status).toBe(200);
  return (page.json.value as unknown as DirectoryAudit[]).reverse();
}

it('a read answers at once, queues the rotation, and the timer asks Intune for each enrolment of the device, all audited', async () => {
  const [managed, unmanaged] = [await escrowed(), await escrowed()];
  const enrolments = [randomUUID(), randomUUID()];
  for (const id of enrolments) graph.listings.managedDevices.push({ id, azureADDeviceId: managed.deviceId, operatingSystem: 'Windows' });
  const upn = 'lena@contoso.example';
  const reader = await token({ scopes: [READ], claims: { upn } });

  const graphCallsBefore = graph.requestHeaders.length;
  const reads = [await callOn(host.url, 'GET', `${COLLECTION}/${managed.id}?$select=key`, { token: reader })];
  reads.push(await callOn(host.url, 'GET', `${COLLECTION}/${unmanaged.id}?$select=key`, { token: reader }));
  expect(reads.map((read) => [read.status, read.json.key])).toEqual([
    [200, managed.key],
    [200, unmanaged.key],
  ]);
  // The answers went out before Intune heard anything: the reads made no Graph call.
  expect(graph.requestHeaders.length).toBe(graphCallsBefore);

  // Graph unreachable: both stay queued for the next run, each failure audited.
  graph.down = true;
  expect(await processIntuneRotations()).toEqual({ rotated: 0, notManaged: 0, retrying: 2, failed: 0 });
  graph.down = false;
  expect(await processIntuneRotations()).toEqual({ rotated: 1, notManaged: 1, retrying: 0, failed: 0 });
  expect([...graph.rotations].sort()).toEqual([...enrolments].sort());
  expect(await processIntuneRotations()).toEqual({ rotated: 0, notManaged: 0, retrying: 0, failed: 0 });

  const trail = await rotationAudits(managed.id!);
  expect(trail.map((event) => [event.result, event.resultReason.replace(/ \(.*$/, '')])).toEqual([
    ['success', `Queued: Intune will be asked to rotate the BitLocker keys of device ${managed.deviceId}.`],
    ['failure', `Intune could not be asked to rotate the keys of device ${managed.deviceId}`],
    ['success', `Intune accepted the rotation of the BitLocker keys of device ${managed.deviceId}`],
  ]);
  // Each record is the reader's, under the read's own request id.
  const readRequestId = reads[0].headers.get('request-id');
  expect(trail.map((event) => [event.initiatedBy.user?.userPrincipalName, event.correlationId])).toEqual(
    Array.from({ length: 3 }, () => [upn, readRequestId]),
  );
  expect(trail[2].resultReason).toContain(`managed device ${enrolments.join(', ')}`);
  const unmanagedTrail = await rotationAudits(unmanaged.id!);
  expect(unmanagedTrail.at(-1)).toMatchObject({
    result: 'failure',
    resultReason: `Device ${unmanaged.deviceId} is not managed by Intune: no rotation was requested.`,
  });
  // The Graph calls carried the managed identity's token (the stand-in answers 401 otherwise) and asked what Intune documents.
  expect(identity.requests.filter((request) => request.resource === GRAPH_RESOURCE).length).toBeGreaterThanOrEqual(1);
});

it(`gives a device up after ${MAX_ATTEMPTS} failed runs, audited as final`, async () => {
  const key = await escrowed();
  graph.listings.managedDevices.push({ id: randomUUID(), azureADDeviceId: key.deviceId, operatingSystem: 'Windows' });
  const read = await callOn(host.url, 'GET', `${COLLECTION}/${key.id}?$select=key`, { token: await token({ roles: [READ] }) });
  expect(read.json.key).toBe(key.key);
  graph.down = true;
  const runs = [];
  for (let run = 0; run < MAX_ATTEMPTS; run++) runs.push(await processIntuneRotations());
  graph.down = false;
  expect(runs.map((run) => [run.retrying, run.failed])).toEqual([...Array.from({ length: MAX_ATTEMPTS - 1 }, () => [1, 0]), [0, 1]]);
  expect(await processIntuneRotations()).toEqual({ rotated: 0, notManaged: 0, retrying: 0, failed: 0 });
  const trail = await rotationAudits(key.id!);
  expect(trail.at(-1)!.resultReason).toMatch(new RegExp(`\\(try ${MAX_ATTEMPTS} of ${MAX_ATTEMPTS}\\): Microsoft Graph did not answer`));
});
