import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceClient } from '../../scripts/cli/device/client';
import { selfSignedCertificate } from '../../scripts/cli/device/selfSignedCertificate';
import { startLocalHost, stopLocalHosts, HostDidNotStart, type LocalHost } from '../../scripts/devhost/localHost';
import { AUDIT_READ, auditsOf, auditsPath, detailOf, readAllAudits } from '../support/audit';
import {
  call,
  callOn,
  expectAnsweredAsAbsent,
  expectGraphError,
  READ,
  READ_BASIC,
  token,
  WRITE,
  type ApiResponse,
} from '../support/client';
import { keyBody, type KeyBody } from '../support/fixtures';
import { startGraphStandIn, type GraphStandIn } from '../support/graphStandIn';
import { COLLECTION, item } from '../support/keys';
import { GRAPH_RESOURCE, startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';

// Who may reveal which key, over HTTP against a host of its own: REVEAL_SCOPES with memberships and
// owners from the Graph stand-in, approval requests, self-service, bulk grants. Several local identities
// (--roles, --scopes, --groups) as the console and scripts would send them.

const APPROVE = 'BitLockerKey.Approve.All';
const SCOPE = ['user_impersonation'];
const REQUESTS = '/v1.0/informationProtection/bitlocker/revealRequests';
const GRANTS = '/v1.0/informationProtection/bitlocker/revealGrants';
const MY_DEVICES = '/v1.0/informationProtection/bitlocker/myDevices';
const DELETED = '/v1.0/directory/deletedItems';
const AWAITING = '/v1.0/informationProtection/bitlocker/keysAwaitingRotation';
const STATUSES = '/v1.0/informationProtection/bitlocker/deviceStatuses';

const BRAZIL_AGENTS = randomUUID();
const BRAZIL_DEVICES = randomUUID();
const EXEC_AGENTS = randomUUID();
const EXEC_DEVICES = randomUUID();
const RULES = [
  { callerGroups: [BRAZIL_AGENTS], deviceGroups: [BRAZIL_DEVICES] },
  { callerGroups: [EXEC_AGENTS], deviceGroups: [EXEC_DEVICES], approval: true },
];

let identity: ManagedIdentityStandIn;
let graph: GraphStandIn;
let host: LocalHost;
let writer: string;
let auditor: string;
const hostLogs: string[] = [];
const owner = randomUUID();
const devices = { brazil: randomUUID(), elsewhere: randomUUID(), exec: randomUUID() };
const keys: Record<keyof typeof devices, KeyBody> = {} as Record<keyof typeof devices, KeyBody>;

const on = (method: string, path: string, bearer: string, extra: { body?: unknown; headers?: Record<string, string> } = {}) =>
  callOn(host.url, method, path, { token: bearer, ...extra });
const reveal = (id: string, bearer: string, headers: Record<string, string> = {}) =>
  on('GET', `${item(id)}?$select=key`, bearer, { headers: { 'X-Reveal-Reason': 'lostPin', ...headers } });
const agent = (groups: string[], roles = [READ], claims: Record<string, unknown> = {}) => token({ roles, scopes: SCOPE, groups, claims });

/** The read's audit record (by its request-id). */
async function readRecord(keyId: string, response: ApiResponse) {
  const events = await auditsOf(keyId, auditor, "activityDisplayName eq 'Read BitLocker key'");
  const record = events.find((event) => event.correlationId === response.headers.get('request-id'));
  expect(record).toBeDefined();
  return record!;
}

/** The ids of every page of a collection, following @odata.nextLink. */
async function allIds(path: string, bearer: string): Promise<string[]> {
  const ids: string[] = [];
  for (let next: string | undefined = path; next !== undefined;) {
    const page = await on('GET', next, bearer);
    expect(page.status).toBe(200);
    ids.push(...(page.json.value as { id: string }[]).map((value) => value.id));
    const link = page.json['@odata.nextLink'] as string | undefined;
    next = link === undefined ? undefined : link.slice(host.url.length);
  }
  return ids;
}

function expectNoPassword(response: ApiResponse, key: KeyBody): void {
  expect(response.text).not.toContain(key.key);
}

/** A reveal this bearer may not make, answered exactly as the reveal of a key id that does not exist. */
async function expectRevealAsAbsent(response: ApiResponse, key: KeyBody, bearer: string, headers: Record<string, string> = {}) {
  const missing = randomUUID();
  expectAnsweredAsAbsent(response, await reveal(missing, bearer, headers), { hidden: key.id!, absent: missing });
  expect(response.json.error?.message).toBe(`Recovery key ${key.id} was not found.`);
  expectNoPassword(response, key);
}

beforeAll(async () => {
  identity = await startManagedIdentityStandIn();
  graph = await startGraphStandIn(await identity.tokenFor(GRAPH_RESOURCE));
  graph.directory.devices.set(devices.brazil, { displayName: 'BR-LAPTOP-01' });
  graph.directory.devices.set(devices.elsewhere, { displayName: 'US-LAPTOP-07' });
  graph.directory.devices.set(devices.exec, { displayName: 'CEO-SURFACE' });
  graph.directory.memberOf.set(devices.brazil, [randomUUID(), BRAZIL_DEVICES]);
  graph.directory.memberOf.set(devices.exec, [EXEC_DEVICES]);
  graph.directory.owners.set(devices.brazil, [owner]);
  host = await startLocalHost(
    {
      // Devices escrow for themselves too: a device's claim on another's key id is how one id gets two holders.
      DEVICE_AUTH: 'entra',
      REVEAL_SCOPES: JSON.stringify(RULES, null, 2),
      SELF_SERVICE_REVEAL: 'true',
      GRAPH_BASE_URL: graph.url,
      IDENTITY_ENDPOINT: identity.endpoint,
      IDENTITY_HEADER: identity.header,
    },
    { onLine: (line: string) => void hostLogs.push(line) },
  );
  [writer, auditor] = await Promise.all([token({ roles: [WRITE] }), token({ roles: [AUDIT_READ] })]);
  for (const name of Object.keys(devices) as (keyof typeof devices)[]) {
    keys[name] = keyBody({ deviceId: devices[name] });
    expect((await on('PATCH', COLLECTION, writer, { body: keys[name] })).status).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await stopLocalHosts();
  await graph?.close();
  await identity?.close();
});

/** Escrows `key` as its own device would (registered in the stand-in Graph with a certificate of its own). */
async function escrowAsDevice(key: KeyBody): Promise<void> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certificate = selfSignedCertificate(privateKey, key.deviceId!);
  graph.devices.set(key.deviceId!, { deviceId: key.deviceId!, accountEnabled: true, certificates: [certificate] });
  const escrowed = await new DeviceClient(host.url, { certificate, privateKey }).escrow({
    id: key.id!,
    deviceId: key.deviceId!,
    volumeType: String(key.volumeType),
    key: key.key!,
  });
  expect(escrowed.status).toBe(200);
}

/** One key id escrowed by two devices, each with its own password: the writer's record, then the second device's claim. */
async function sharedId(first: string, second: string): Promise<[KeyBody, KeyBody]> {
  const held = keyBody({ deviceId: first });
  expect((await on('PATCH', COLLECTION, writer, { body: held })).status).toBe(200);
  const claim = keyBody({ id: held.id, deviceId: second });
  await escrowAsDevice(claim);
  return [held, claim];
}

/** The devices (sorted) a 409 for key `id`, after `prefix`, says hold it. */
function holdersNamed(text: string, id: string, prefix = ''): string[] {
  const named = new RegExp(`^${prefix}Recovery key ${id} is held by 2 devices \\(([^)]*)\\)`).exec(text);
  expect(named).not.toBeNull();
  return named![1].split(', ').sort();
}

describe('REVEAL_SCOPES', () => {
  it("lets a scoped agent read a key of a device in their rule's device group, audited with the rule", async () => {
    const response = await reveal(keys.brazil.id!, await agent([BRAZIL_AGENTS]));
    expect(response.status).toBe(200);
    expect(response.json.key).toBe(keys.brazil.key);
    const record = await readRecord(keys.brazil.id!, response);
    expect(detailOf(record, 'RevealBasis')).toBe('scope');
    expect(detailOf(record, 'ScopeRule')).toBe('1');
  });

  it('answers a key of a device outside the scope as a missing key, audited with the real reason, without the password', async () => {
    const bearer = await agent([BRAZIL_AGENTS]);
    const response = await reveal(keys.elsewhere.id!, bearer);
    await expectRevealAsAbsent(response, keys.elsewhere, bearer);
    // Naming the device gives the same answer as naming it for a missing id.
    const named = await on('GET', `${item(keys.elsewhere.id!)}?$select=key&deviceId=${devices.elsewhere}`, bearer, {
      headers: { 'X-Reveal-Reason': 'lostPin' },
    });
    const missing = randomUUID();
    const namedMissing = await on('GET', `${item(missing)}?$select=key&deviceId=${devices.elsewhere}`, bearer, {
      headers: { 'X-Reveal-Reason': 'lostPin' },
    });
    expectAnsweredAsAbsent(named, namedMissing, { hidden: keys.elsewhere.id!, absent: missing });
    const record = await readRecord(keys.elsewhere.id!, response);
    expect(record.result).toBe('failure');
    expect(record.resultReason).toMatch(
      /^403 authorization_error: Reveal scope: this key's device is in none of the device groups of your REVEAL_SCOPES rules \(1\)/,
    );
  });

  it('answers a key id held by two devices over the holders a caller may see, never naming a hidden one', async () => {
    const bearer = await agent([BRAZIL_AGENTS]);
    const hiddenDevices = [randomUUID(), randomUUID()];
    const [hidden, hiddenClaim] = await sharedId(hiddenDevices[0], hiddenDevices[1]);
    const missing = randomUUID();
    const metadata = (id: string) => on('GET', item(id), bearer);
    const ask = (id: string) => on('POST', REQUESTS, bearer, { body: { keyId: id, reason: 'lostPin' } });

    // Neither holder in scope: the metadata read, the key read and the reveal request answer as for a made-up id.
    expectAnsweredAsAbsent(await metadata(hidden.id!), await metadata(missing), { hidden: hidden.id!, absent: missing });
    const read = await reveal(hidden.id!, bearer);
    await expectRevealAsAbsent(read, hidden, bearer);
    expectNoPassword(read, hiddenClaim);
    expectAnsweredAsAbsent(await ask(hidden.id!), await ask(missing), { hidden: hidden.id!, absent: missing });
    for (const response of [read, await metadata(hidden.id!), await ask(hidden.id!)]) {
      for (const device of hiddenDevices) expect(response.text).not.toContain(device);
    }
    // A self-service user who owns neither device, likewise.
    const ownerless = token({ scopes: SCOPE, claims: { oid: owner } });
    await expectRevealAsAbsent(await reveal(hidden.id!, await ownerless), hidden, await ownerless);
    // The trail records what really stood in the way: the two holders.
    const record = await readRecord(hidden.id!, read);
    expect(record.result).toBe('failure');
    expect(holdersNamed(record.resultReason, hidden.id!, '409 conflict: ')).toEqual([...hiddenDevices].sort());

    // One holder in scope: it is that key, as if its device had been named.
    const outside = randomUUID();
    const brazil = randomUUID();
    graph.directory.devices.set(brazil, { displayName: 'BR-LAPTOP-03' });
    graph.directory.memberOf.set(brazil, [BRAZIL_DEVICES]);
    const [inScope, outsideClaim] = await sharedId(brazil, outside);
    const seen = await reveal(inScope.id!, bearer);
    expect(seen.status).toBe(200);
    expect(seen.json.key).toBe(inScope.key);
    expectNoPassword(seen, outsideClaim);
    expect((await metadata(inScope.id!)).json).toMatchObject({ id: inScope.id, deviceId: brazil });
    const asked = await ask(inScope.id!);
    expect(asked.status).toBe(201);
    expect(asked.json).toMatchObject({ keyId: inScope.id, deviceId: brazil });
    for (const response of [seen, asked]) expect(response.text).not.toContain(outside);

    // A reader every device is visible to still has to name the device: the 409 names both.
    const unrestricted = await on('GET', `${item(inScope.id!)}?$select=key`, await token({ roles: [READ] }));
    const message = expectGraphError(unrestricted, 409, 'conflict').message;
    expect(holdersNamed(message, inScope.id!)).toEqual([brazil, outside].sort());
    expect(message).toMatch(/; name the caller's device with \?deviceId=<device id>\.$/);
  });

  it('refuses an agent whose groups are in no rule, with the same 403 for any key id', async () => {
    const bearer = await agent([randomUUID()]);
    for (const id of [keys.brazil.id!, randomUUID()]) {
      const response = await reveal(id, bearer);
      expect(expectGraphError(response, 403, 'authorization_error').message).toBe(
        'Reveal scope: none of your groups is in a REVEAL_SCOPES rule, so you may not read recovery keys.',
      );
    }
  });

  it('shows a scoped agent only in-scope devices in lists, searches and metadata reads', async () => {
    const bearer = await agent([BRAZIL_AGENTS], [READ_BASIC]);
    const inScope = await on('GET', `${COLLECTION}?$filter=deviceId eq '${devices.brazil}'`, bearer);
    expect(inScope.status).toBe(200);
    expect(inScope.json.value.map((key) => key.id)).toEqual([keys.brazil.id]);
    const outOfScope = await on('GET', `${COLLECTION}?$filter=deviceId eq '${devices.elsewhere}'`, bearer);
    expect(outOfScope.status).toBe(200);
    expect(outOfScope.json.value).toEqual([]);
    expect((await on('GET', item(keys.brazil.id!), bearer)).json.deviceId).toBe(devices.brazil);
    const missing = randomUUID();
    expectAnsweredAsAbsent(await on('GET', item(keys.elsewhere.id!), bearer), await on('GET', item(missing), bearer), {
      hidden: keys.elsewhere.id!,
      absent: missing,
    });
    const named = (id: string) => `${item(id)}?deviceId=${devices.elsewhere}`;
    expectAnsweredAsAbsent(await on('GET', named(keys.elsewhere.id!), bearer), await on('GET', named(missing), bearer), {
      hidden: keys.elsewhere.id!,
      absent: missing,
    });
  });

  it('keeps app-only reads tenant-wide', async () => {
    const response = await reveal(keys.elsewhere.id!, await token({ roles: [READ] }));
    expect(response.status).toBe(200);
    expect(response.json.key).toBe(keys.elsewhere.key);
  });

  it('reads the groups of an overage from Graph, 10,000 of them in pages of 999, once per cache lifetime', async () => {
    const oid = randomUUID();
    const groups = Array.from({ length: 9_999 }, () => randomUUID());
    graph.directory.memberOf.set(oid, [...groups, BRAZIL_AGENTS]);
    const bearer = await agent([], [READ], { oid, _claim_names: { groups: 'src1' } });
    const before = graph.directory.requests.filter((path) => path.includes(`/users/${oid}/`)).length;
    const first = await reveal(keys.brazil.id!, bearer);
    expect(first.status).toBe(200);
    expect(first.json.key).toBe(keys.brazil.key);
    const pages = graph.directory.requests.filter((path) => path.includes(`/users/${oid}/`)).length - before;
    expect(pages).toBe(11);
    expect((await reveal(keys.brazil.id!, bearer)).status).toBe(200);
    expect(graph.directory.requests.filter((path) => path.includes(`/users/${oid}/`)).length - before).toBe(11);
  });

  it('answers 503, never an allow, when Graph is down while checking membership', async () => {
    const fresh = keyBody({ deviceId: randomUUID() });
    graph.directory.devices.set(fresh.deviceId!, { displayName: 'BR-LAPTOP-02' });
    graph.directory.memberOf.set(fresh.deviceId!, [BRAZIL_DEVICES]);
    expect((await on('PATCH', COLLECTION, writer, { body: fresh })).status).toBe(200);
    graph.down = true;
    try {
      const response = await reveal(fresh.id!, await agent([BRAZIL_AGENTS]));
      // Why Graph could not answer (a credential's error, Graph's own text) is for the log, not the caller.
      expect(expectGraphError(response, 503, 'serviceNotAvailable').message).toBe(
        'Microsoft Graph could not be reached to check the reveal scope; try again later.',
      );
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      // ... where the cause is, under the request's id.
      const requestId = response.headers.get('request-id')!;
      const logged = () => hostLogs.find((line) => line.includes(requestId) && line.includes('dependencyFailure'));
      for (let waited = 0; waited < 5_000 && logged() === undefined; waited += 50) await sleep(50);
      expect(logged()).toMatch(/"dependency":"graph".*"cause":"[^"]+"/);
      expectNoPassword(response, fresh);
    } finally {
      graph.down = false;
    }
    expect((await reveal(fresh.id!, await agent([BRAZIL_AGENTS]))).json.key).toBe(fresh.key);
  });

  it("answers a device status outside a scoped agent's scope as a device that never reported; Graph down is a 503", async () => {
    for (const name of ['brazil', 'elsewhere'] as const) {
      const body = {
        volumes: [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: [keys[name].id] }],
        clientVersion: 'tool/2.1',
      };
      expect((await on('PUT', `${STATUSES}/${devices[name]}`, writer, { body })).status).toBe(200);
    }
    const bearer = await agent([BRAZIL_AGENTS], [READ_BASIC]);
    const inScope = await on('GET', `${STATUSES}/${devices.brazil}`, bearer);
    expect(inScope.status).toBe(200);
    expect(inScope.json).toMatchObject({
      deviceId: devices.brazil,
      clientVersion: 'tool/2.1',
      volumes: [{ recoveryPasswordIds: [keys.brazil.id] }],
    });

    const hidden = await on('GET', `${STATUSES}/${devices.elsewhere}`, bearer);
    const silent = randomUUID();
    const never = await on('GET', `${STATUSES}/${silent}`, bearer);
    const context = expect.stringMatching(/\/\$metadata#informationProtection\/bitlocker\/deviceStatuses\/\$entity$/) as unknown;
    expect({ status: never.status, body: never.json }).toEqual({
      status: 200,
      body: { '@odata.context': context, deviceId: silent, volumes: [] },
    });
    expect({ status: hidden.status, body: hidden.json }).toEqual({
      status: 200,
      body: { '@odata.context': context, deviceId: devices.elsewhere, volumes: [] },
    });
    expect(hidden.text).not.toContain(keys.elsewhere.id);
    // An agent whose groups are in no rule sees no device's status; an app reader sees every one.
    const unruled = await on('GET', `${STATUSES}/${devices.brazil}`, await agent([randomUUID()], [READ_BASIC]));
    expect(unruled.json).toEqual({ '@odata.context': context, deviceId: devices.brazil, volumes: [] });
    const app = await on('GET', `${STATUSES}/${devices.elsewhere}`, await token({ roles: [READ_BASIC] }));
    expect(app.json).toMatchObject({ volumes: [{ recoveryPasswordIds: [keys.elsewhere.id] }] });

    // A device Graph was not asked about yet: fail closed.
    graph.down = true;
    try {
      const down = await on('GET', `${STATUSES}/${randomUUID()}`, bearer);
      expect(expectGraphError(down, 503, 'serviceNotAvailable').message).toMatch(/Microsoft Graph could not be reached/);
    } finally {
      graph.down = false;
    }
  });

  it("hides other devices' keys from a scoped agent in deleted items and in keys awaiting rotation", async () => {
    const gone = { brazil: keyBody({ deviceId: devices.brazil }), elsewhere: keyBody({ deviceId: devices.elsewhere }) };
    for (const key of Object.values(gone)) {
      expect((await on('PATCH', COLLECTION, writer, { body: key })).status).toBe(200);
      expect((await on('DELETE', item(key.id!), writer)).status).toBe(204);
    }
    const bearer = await agent([BRAZIL_AGENTS], [READ_BASIC]);
    const deleted = await allIds(`${DELETED}/microsoft.graph.bitlockerRecoveryKey?$top=999`, bearer);
    expect(deleted).toContain(gone.brazil.id);
    expect(deleted).not.toContain(gone.elsewhere.id);
    expect((await on('GET', `${DELETED}/${gone.brazil.id}`, bearer)).json).toMatchObject({ id: gone.brazil.id, deviceId: devices.brazil });
    const hidden = await on('GET', `${DELETED}/${gone.elsewhere.id}`, bearer);
    const missing = randomUUID();
    expectAnsweredAsAbsent(hidden, await on('GET', `${DELETED}/${missing}`, bearer), { hidden: gone.elsewhere.id!, absent: missing });
    expect(hidden.json.error?.message).toBe(
      `Deleted recovery key ${gone.elsewhere.id} was not found (it is not deleted, or it was purged).`,
    );
    // The app-only reader sees every deleted key.
    expect((await on('GET', `${DELETED}/${gone.elsewhere.id}`, await token({ roles: [READ_BASIC] }))).status).toBe(200);

    // Both live keys were revealed above (the agent's read and the app's): both await rotation.
    const awaiting = await allIds(`${AWAITING}?$top=999`, bearer);
    expect(awaiting).toContain(keys.brazil.id);
    expect(awaiting).not.toContain(keys.elsewhere.id);
    expect(await allIds(`${AWAITING}?$top=999`, await token({ roles: [READ_BASIC] }))).toContain(keys.elsewhere.id);
  });
});

describe('approval', () => {
  it('needs an approved request where the rule asks for one; the approval lets only its requester read', async () => {
    const requesterOid = randomUUID();
    const requester = await agent([EXEC_AGENTS], [READ, APPROVE], { oid: requesterOid });
    const refused = await reveal(keys.exec.id!, requester);
    expect(expectGraphError(refused, 403, 'authorization_error').message).toMatch(/^Approval needed/);
    expectNoPassword(refused, keys.exec);

    const asked = await on('POST', REQUESTS, requester, {
      body: { keyId: keys.exec.id, reason: 'lostPin:CEO locked out', ticket: 'INC0042' },
    });
    expect(asked.status).toBe(201);
    expect(asked.json).toMatchObject({
      keyId: keys.exec.id,
      deviceId: devices.exec,
      status: 'pending',
      reason: 'lostPin:CEO locked out',
      ticket: 'INC0042',
    });
    expect(asked.json.requestedBy).toEqual({ id: requesterOid, userPrincipalName: 'helpdesk@contoso.local' });
    expect(asked.headers.get('location')).toBe(`${host.url}${REQUESTS}/${asked.json.id}`);
    const id = asked.json.id;

    const own = await on('POST', `${REQUESTS}/${id}/approve`, requester);
    expect(expectGraphError(own, 403, 'authorization_error').message).toMatch(/cannot approve or deny your own reveal request/);

    const approver = await token({ roles: [APPROVE], scopes: SCOPE });
    const pending = await on('GET', REQUESTS, approver);
    expect(pending.json.value.map((r) => r.id)).toContain(id);
    const approved = await on('POST', `${REQUESTS}/${id}/approve`, approver);
    expect(approved.status).toBe(200);
    expect(approved.json.status).toBe('approved');
    expect(approved.json.decidedBy).toMatchObject({ userPrincipalName: 'helpdesk@contoso.local' });

    const twice = await on('POST', `${REQUESTS}/${id}/approve`, approver);
    expect(expectGraphError(twice, 409, 'conflict').message).toMatch(/already approved/);

    const read = await reveal(keys.exec.id!, requester);
    expect(read.status).toBe(200);
    expect(read.json.key).toBe(keys.exec.key);
    const record = await readRecord(keys.exec.id!, read);
    expect(detailOf(record, 'RevealBasis')).toBe('approval');
    expect(detailOf(record, 'ApprovalId')).toBe(id);

    // Another agent of the same group is not the requester.
    expectGraphError(await reveal(keys.exec.id!, await agent([EXEC_AGENTS])), 403, 'authorization_error');

    const trail = await auditsOf(keys.exec.id!, auditor);
    const transitions = trail.filter((event) => detailOf(event, 'ApprovalId') === id).map((e) => `${e.activityDisplayName}: ${e.result}`);
    expect(transitions).toEqual(
      expect.arrayContaining([
        'Request BitLocker key reveal: success',
        'Decide BitLocker key reveal request: success',
        'Decide BitLocker key reveal request: failure',
        'Read BitLocker key: success',
      ]),
    );
  });

  it('denies: the request shows denied and the read stays refused', async () => {
    const requester = await agent([EXEC_AGENTS]);
    const id = (await on('POST', REQUESTS, requester, { body: { keyId: keys.exec.id, reason: 'other:testing' } })).json.id;
    const denied = await on('POST', `${REQUESTS}/${id}/deny`, await token({ roles: [APPROVE] }));
    expect(denied.json).toMatchObject({ id, status: 'denied' });
    expect((await on('GET', `${REQUESTS}/${id}`, requester)).json.status).toBe('denied');
    expectGraphError(await reveal(keys.exec.id!, requester), 403, 'authorization_error');
  });

  it('refuses bad requests: unknown properties, a malformed key id, a missing key, another reader, a deciding reader', async () => {
    const requester = await agent([EXEC_AGENTS]);
    const unknown = await on('POST', REQUESTS, requester, { body: { keyId: keys.exec.id, reason: 'lostPin', approver: 'me' } });
    expect(expectGraphError(unknown, 400, 'badRequest').message).toMatch(/approver is not a property of a reveal request/);
    expectGraphError(await on('POST', REQUESTS, requester, { body: { keyId: 'nope', reason: 'lostPin' } }), 400, 'badRequest');
    expectGraphError(await on('POST', REQUESTS, requester, { body: { keyId: keys.exec.id, reason: 'because' } }), 400, 'badRequest');
    // A key outside the requester's scope is answered as a missing one.
    const outOfScope = await on('POST', REQUESTS, requester, { body: { keyId: keys.brazil.id, reason: 'lostPin' } });
    const missing = randomUUID();
    const absent = await on('POST', REQUESTS, requester, { body: { keyId: missing, reason: 'lostPin' } });
    expectAnsweredAsAbsent(outOfScope, absent, { hidden: keys.brazil.id!, absent: missing });
    const id = (await on('POST', REQUESTS, requester, { body: { keyId: keys.exec.id, reason: 'lostPin' } })).json.id;
    expectGraphError(await on('GET', `${REQUESTS}/${id}`, await agent([EXEC_AGENTS])), 404, 'itemNotFound');
    expectGraphError(await on('POST', `${REQUESTS}/${id}/approve`, await agent([EXEC_AGENTS])), 403, 'authorization_error');
    expectGraphError(await on('GET', `${REQUESTS}/${randomUUID()}`, await token({ roles: [APPROVE] })), 404, 'itemNotFound');
  });
});

describe('self-service', () => {
  const user = (oid = owner) => token({ scopes: SCOPE, claims: { oid } });

  it("lets an owner without a BitLocker role read their device's key with a reason, audited as self-service", async () => {
    const response = await reveal(keys.brazil.id!, await user(), { 'X-Reveal-Reason': 'lostPin:forgot PIN at 3 a.m.' });
    expect(response.status).toBe(200);
    expect(response.json.key).toBe(keys.brazil.key);
    const record = await readRecord(keys.brazil.id!, response);
    expect(detailOf(record, 'RevealBasis')).toBe('selfService');
    expect(record.initiatedBy.user?.id).toBe(owner);
    // The key was revealed by an agent before: the owner learns that it was disclosed, not by whom.
    expect(response.json['@escrow.disclosedDateTime']).toEqual(expect.any(String));
    expect(response.json).not.toHaveProperty(['@escrow.disclosedBy']);
    const byAgent = await reveal(keys.brazil.id!, await agent([BRAZIL_AGENTS]));
    expect(byAgent.json['@escrow.disclosedBy']).toEqual(expect.any(String));
  });

  it('needs a reason, asked before the key is looked up: the same 400 for an owned, a foreign and a missing key', async () => {
    const bearer = await user();
    for (const id of [keys.brazil.id!, keys.elsewhere.id!, randomUUID()]) {
      const response = await on('GET', `${item(id)}?$select=key`, bearer);
      expect(expectGraphError(response, 400, 'badRequest').message).toBe(
        'A self-service key read needs X-Reveal-Reason: say why the key is needed.',
      );
      expectNoPassword(response, keys.brazil);
    }
  });

  it("answers a device the user does not own as a missing key, and opens nothing else: no list, no metadata, no one else's device", async () => {
    const bearer = await user();
    const notOwned = await reveal(keys.elsewhere.id!, bearer);
    await expectRevealAsAbsent(notOwned, keys.elsewhere, bearer);
    const record = await readRecord(keys.elsewhere.id!, notOwned);
    expect(record.resultReason).toMatch(/^403 authorization_error: Self-service: you are not a registered owner of this key's device/);
    expectGraphError(await on('GET', COLLECTION, bearer), 403, 'authorization_error');
    expectGraphError(await on('GET', `${COLLECTION}?$filter=deviceId eq '${devices.brazil}'`, bearer), 403, 'authorization_error');
    expectGraphError(await on('GET', item(keys.brazil.id!), bearer), 403, 'authorization_error');
    // No device status either, not even of the user's own device: reading one needs a BitLocker role.
    expectGraphError(await on('GET', `${STATUSES}/${devices.brazil}`, bearer), 403, 'authorization_error');
    const stranger = await user(randomUUID());
    await expectRevealAsAbsent(await reveal(keys.brazil.id!, stranger), keys.brazil, stranger);
    // An app without a role is not a user: no self-service.
    expectGraphError(await reveal(keys.brazil.id!, await token({})), 403, 'authorization_error');
  });

  it("lists the user's devices with their keys' metadata, never a password", async () => {
    const response = await on('GET', MY_DEVICES, await user());
    expect(response.status).toBe(200);
    expect(response.json.value).toEqual([
      {
        deviceId: devices.brazil,
        displayName: 'BR-LAPTOP-01',
        recoveryKeys: [{ id: keys.brazil.id, volumeType: 'operatingSystemVolume', createdDateTime: expect.any(String) as string }],
      },
    ]);
    expectNoPassword(response, keys.brazil);
  });

  it('is off unless SELF_SERVICE_REVEAL=true: the run’s host refuses a role-less user', async () => {
    const bearer = await user();
    const response = await call('GET', `${item(keys.brazil.id!)}?$select=key`, {
      token: bearer,
      headers: { 'X-Reveal-Reason': 'lostPin' },
    });
    expect(expectGraphError(response, 403, 'authorization_error').message).toMatch(/BitLockerKey.Read.All/);
    expectGraphError(await call('GET', MY_DEVICES, { token: bearer }), 403, 'authorization_error');
  });
});

describe('a bulk grant and its granter', () => {
  it('refuses a grant to a group the granter is a member of (403, audited); Graph down is a 503', async () => {
    const ownGroup = randomUUID();
    const oid = randomUUID();
    const since = new Date(Date.now() - 1000).toISOString();
    const body = { deviceGroupId: EXEC_DEVICES, granteeGroupId: ownGroup, reason: 'lostPin', hours: 1 };
    const refused = await on('POST', GRANTS, await agent([EXEC_AGENTS, ownGroup], [READ, APPROVE], { oid }), { body });
    expect(expectGraphError(refused, 403, 'authorization_error').message).toMatch(
      /^You cannot grant a reveal to a group you are a member of: another holder of BitLockerKey.Approve.All/,
    );
    const filter = `activityDisplayName eq 'Grant bulk BitLocker key reveal' and activityDateTime ge ${since}`;
    const events = (await readAllAudits(auditsPath({ $filter: filter }), auditor)).events;
    const record = events.find((event) => event.correlationId === refused.headers.get('request-id'));
    expect(record).toMatchObject({ result: 'failure', initiatedBy: { user: { id: oid } } });

    // Membership on an overage comes from Graph, and Graph down refuses with 503, never grants.
    const overageOid = randomUUID();
    graph.directory.memberOf.set(overageOid, [ownGroup]);
    const overage = await agent([], [APPROVE], { oid: overageOid, _claim_names: { groups: 'src1' } });
    graph.down = true;
    try {
      const down = await on('POST', GRANTS, overage, { body });
      expect(expectGraphError(down, 503, 'serviceNotAvailable').message).toMatch(/Microsoft Graph could not be reached/);
    } finally {
      graph.down = false;
    }
    expectGraphError(await on('POST', GRANTS, overage, { body }), 403, 'authorization_error');
  });

  it('never lets a granter read under their own grant, even once they are in the grantee group', async () => {
    const grantees = randomUUID();
    const granterOid = randomUUID();
    const granted = await on('POST', GRANTS, await agent([randomUUID()], [APPROVE], { oid: granterOid }), {
      body: { deviceGroupId: EXEC_DEVICES, granteeGroupId: grantees, reason: 'bootConfigurationChanged', hours: 1 },
    });
    expect(granted.status).toBe(201);
    const another = await reveal(keys.exec.id!, await agent([EXEC_AGENTS, grantees]));
    expect(another.json.key).toBe(keys.exec.key);
    const granter = await reveal(keys.exec.id!, await agent([EXEC_AGENTS, grantees], [READ, APPROVE], { oid: granterOid }));
    expect(expectGraphError(granter, 403, 'authorization_error').message).toMatch(/^Approval needed/);
    expectNoPassword(granter, keys.exec);
    // The same granter under another spelling of their object id is still the granter.
    const respelled = { oid: `{${granterOid.toUpperCase()}}` };
    const again = await reveal(keys.exec.id!, await agent([EXEC_AGENTS, grantees], [READ, APPROVE], respelled));
    expect(expectGraphError(again, 403, 'authorization_error').message).toMatch(/^Approval needed/);
    expectNoPassword(again, keys.exec);
  });
});

describe('mass recovery', () => {
  it('grants a device group to a group of agents for hours: reads need no request, each names the grant', async () => {
    const approver = await token({ roles: [APPROVE], scopes: SCOPE });
    const tooLong = await on('POST', GRANTS, approver, {
      body: { deviceGroupId: EXEC_DEVICES, granteeGroupId: EXEC_AGENTS, reason: 'bootConfigurationChanged', hours: 9 },
    });
    expect(expectGraphError(tooLong, 400, 'badRequest').message).toMatch(/at most 8 \(REVEAL_APPROVAL_HOURS\)/);
    expectGraphError(await on('POST', GRANTS, await agent([EXEC_AGENTS])), 403, 'authorization_error');

    const granted = await on('POST', GRANTS, approver, {
      body: {
        deviceGroupId: EXEC_DEVICES,
        granteeGroupId: EXEC_AGENTS,
        reason: 'bootConfigurationChanged:faulty update',
        ticket: 'MAJ-1',
        hours: 2,
      },
    });
    expect(granted.status).toBe(201);
    expect(granted.json).toMatchObject({ deviceGroupId: EXEC_DEVICES, granteeGroupId: EXEC_AGENTS, status: 'active' });
    const grantId = granted.json.id;

    const agentToken = await agent([EXEC_AGENTS]);
    const queue = await on('GET', `${GRANTS}/${grantId}/devices`, agentToken);
    expect(queue.json.value).toEqual([{ deviceId: devices.exec, displayName: 'CEO-SURFACE', recoveryKeys: [] }]);
    const read = await reveal(keys.exec.id!, agentToken);
    expect(read.json.key).toBe(keys.exec.key);
    const record = await readRecord(keys.exec.id!, read);
    expect(detailOf(record, 'RevealBasis')).toBe('grant');
    expect(detailOf(record, 'GrantId')).toBe(grantId);
    // The grant does not widen the scope: the Brazil device stays out of reach of these agents.
    await expectRevealAsAbsent(await reveal(keys.brazil.id!, agentToken), keys.brazil, agentToken);
    expectGraphError(await on('GET', `${GRANTS}/${grantId}`, await agent([BRAZIL_AGENTS])), 404, 'itemNotFound');
  });
});

describe('a malformed REVEAL_SCOPES', () => {
  it('keeps the app from loading, naming the setting and the line at fault', async () => {
    const text =
      '[\n  {"callerGroups": ["' +
      BRAZIL_AGENTS +
      '"], "deviceGroups": ["' +
      BRAZIL_DEVICES +
      '"]},\n  {"callerGroups": ["x"], "deviceGroups": []}\n]';
    const started = startLocalHost({ REVEAL_SCOPES: text });
    await expect(started).rejects.toBeInstanceOf(HostDidNotStart);
    const output = await started.catch((error: HostDidNotStart) => error.hostOutput);
    expect(output).toContain('REVEAL_SCOPES rule 2 (at line 3, column 3): "callerGroups"[0] must be an Entra object id (a GUID)');
  });
});
