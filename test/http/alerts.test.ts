import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { DeviceClient } from '../../scripts/cli/device/client';
import { registerDevice } from '../../scripts/cli/device/identity';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { AUDIT_READ, auditsPath, type DirectoryAudit, keySpellings, secretsIn, targetFilter } from '../support/audit';
import { callOn, expectGraphError, READ, WRITE } from '../support/client';
import { keyBody, type KeyBody, newId, recoveryPassword } from '../support/fixtures';
import { COLLECTION } from '../support/keys';
import { type ReceivedAlert, startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

// Reveal limits and security alerts on a host of their own: REVEAL_LIMIT_PER_HOUR=3, every reveal sent
// to a loopback webhook that accepts, answers 500 or hangs, ALERT_FAIL_CLOSED=true, and devices
// (DEVICE_AUTH=local) for the key-id collision alert. The webhook's budget is generous (10 s), so that
// an accepting webhook is never late on a busy machine; the hanging one never answers, so its 503 does
// not depend on the machine's speed either.

jest.setTimeout(120_000);

const LIMIT = 3;
const BUDGET_S = 10;

let host: LocalHost;
let webhook: WebhookReceiver;
let stateDir: string;
let writer: string;
let auditor: string;

const mint = (request: Parameters<typeof mintDevelopmentToken>[1]) => mintDevelopmentToken(stateDir, request);

/** A signed-in helpdesk user (delegated: `scp`), their own caller. */
const helpdeskUser = (upn = `agent-${randomUUID().slice(0, 8)}@contoso.example`) =>
  mint({ scopes: [READ], claims: { oid: randomUUID(), upn } });

async function escrowed(): Promise<KeyBody> {
  const body = keyBody();
  expect((await callOn(host.url, 'PATCH', `${COLLECTION}/${body.id}`, { token: writer, body })).status).toBe(200);
  return body;
}

const reveal = (token: string, key: KeyBody, headers: Record<string, string> = {}) =>
  callOn(host.url, 'GET', `${COLLECTION}/${key.id}?$select=key`, { token, headers });

async function auditsOn(keyId: string): Promise<DirectoryAudit[]> {
  const page = await callOn(host.url, 'GET', auditsPath({ $filter: targetFilter(keyId) }), { token: auditor });
  expect(page.status).toBe(200);
  return page.json.value as unknown as DirectoryAudit[];
}

/** The alerts received since `from`, while checking that none carries a password of `keys`. */
function alertsSince(from: number, keys: KeyBody[]): ReceivedAlert[] {
  const alerts = webhook.received.slice(from);
  for (const alert of alerts)
    expect(
      secretsIn(
        alert.text,
        keys.flatMap((key) => keySpellings(key.key!)),
      ),
    ).toEqual([]);
  return alerts;
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'escrow-alerts-'));
  webhook = await startWebhookReceiver();
  host = await startLocalHost({
    AUTH_MODE: 'local',
    DEVICE_AUTH: 'local',
    LOCAL_STATE_DIR: stateDir,
    ALERT_WEBHOOK_URL: webhook.url,
    ALERT_FAIL_CLOSED: 'true',
    ALERT_TIMEOUT_SECONDS: String(BUDGET_S),
    ALERT_ON: 'every',
    REVEAL_LIMIT_PER_HOUR: String(LIMIT),
  });
  [writer, auditor] = await Promise.all([mint({ roles: [WRITE] }), mint({ roles: [AUDIT_READ] })]);
}, 60_000);

beforeEach(() => {
  webhook.mode = 'accept';
});

afterAll(async () => {
  await stopLocalHosts();
  await webhook.close();
});

describe('every reveal is announced before its password goes out', () => {
  it('sends who, which key and device, and why it is unusual: never the password', async () => {
    const key = await escrowed();
    const upn = 'maria.silva@contoso.example';
    const user = await helpdeskUser(upn);
    const from = webhook.received.length;

    const first = await reveal(user, key, { 'X-Reveal-Reason': 'lostPin:locked out', 'X-Reveal-Ticket': 'INC0042' });
    expect({ status: first.status, key: first.json.key }).toEqual({ status: 200, key: key.key });
    const second = await reveal(user, key);
    expect(second.status).toBe(200);

    const alerts = alertsSince(from, [key]);
    expect(alerts.map((alert) => alert.contentType)).toEqual(['application/json', 'application/json']);
    expect(alerts.map((alert) => alert.json.escrowAlert)).toEqual([
      {
        kind: 'reveal',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        actor: expect.stringContaining(upn),
        keyId: key.id,
        deviceId: key.deviceId,
        unusual: ['firstReveal'],
        details: { Reason: 'lostPin', Ticket: 'INC0042' },
      },
      expect.objectContaining({ kind: 'reveal', keyId: key.id, unusual: [], details: {} }),
    ]);
    expect(alerts[0].json.summary).toBe('BitLocker recovery key revealed');
    expect(alerts[0].json.text).toContain(`Key: ${key.id}`);
    expect(alerts[0].json.text).toContain('first reveal by this user');
  });

  it('an app-only reader is announced too (its reveals are not counted against the hourly limit)', async () => {
    const key = await escrowed();
    const app = await mint({ roles: [READ], claims: { oid: randomUUID() } });
    const from = webhook.received.length;
    for (let i = 0; i < LIMIT + 1; i++) expect((await reveal(app, key)).status).toBe(200);
    const alerts = alertsSince(from, [key]);
    expect(alerts.map((alert) => [alert.json.escrowAlert.kind, alert.json.escrowAlert.unusual])).toEqual(
      Array.from({ length: LIMIT + 1 }, () => ['reveal', []]),
    );
  });
});

describe('ALERT_FAIL_CLOSED: no alert, no reveal', () => {
  it('a webhook answering 500: 503 with Retry-After, no password, the refusal audited', async () => {
    const key = await escrowed();
    webhook.mode = 'fail';
    const from = webhook.received.length;
    const refused = await reveal(await helpdeskUser(), key);
    const error = expectGraphError(refused, 503, 'serviceNotAvailable');
    expect(error.message).toMatch(/security alert for this key read could not be delivered/);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(secretsIn(refused.text, keySpellings(key.key!))).toEqual([]);
    expect(alertsSince(from, [key])).toHaveLength(1);

    const reads = (await auditsOn(key.id!)).filter((event) => event.activityDisplayName === 'Read BitLocker key');
    expect(reads.map((event) => [event.result, event.resultReason.slice(0, 23)])).toEqual([['failure', '503 serviceNotAvailable']]);
  });

  it('a webhook that never answers: 503 once the budget has passed, not before', async () => {
    const key = await escrowed();
    webhook.mode = 'hang';
    const started = Date.now();
    const refused = await reveal(await helpdeskUser(), key);
    expectGraphError(refused, 503, 'serviceNotAvailable');
    expect(Date.now() - started).toBeGreaterThanOrEqual(BUDGET_S * 1000 - 50);
    expect(secretsIn(refused.text, keySpellings(key.key!))).toEqual([]);
  });
});

describe('REVEAL_LIMIT_PER_HOUR', () => {
  it(`allows ${LIMIT} reads an hour per user, then 429 with Retry-After to the hour's end, audited and alerted once`, async () => {
    const keys = await Promise.all(Array.from({ length: LIMIT + 2 }, () => escrowed()));
    const user = await helpdeskUser();
    const other = await helpdeskUser();
    const from = webhook.received.length;
    for (const key of keys.slice(0, LIMIT)) expect((await reveal(user, key)).status).toBe(200);

    const beyond = await reveal(user, keys[LIMIT]);
    const error = expectGraphError(beyond, 429, 'tooManyRequests');
    expect(error.message).toMatch(new RegExp(`may read ${LIMIT} keys an hour`));
    const retryAfter = Number(beyond.headers.get('retry-after'));
    const secondsLeftInHour = 3600 - (Math.floor(Date.now() / 1000) % 3600);
    // The hour's end as the host saw it a moment ago: the same within seconds, on the clock face of the hour.
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(Math.abs(((retryAfter - secondsLeftInHour + 5400) % 3600) - 1800)).toBeLessThanOrEqual(10);
    expect(secretsIn(beyond.text, keySpellings(keys[LIMIT].key!))).toEqual([]);
    expectGraphError(await reveal(user, keys[LIMIT + 1]), 429, 'tooManyRequests');
    // Another user is not held back by this one.
    expect((await reveal(other, keys[LIMIT])).status).toBe(200);

    const refusals = (await auditsOn(keys[LIMIT].id!)).filter((event) => event.result === 'failure');
    expect(refusals.map((event) => [event.activityDisplayName, event.resultReason.slice(0, 19)])).toEqual([
      ['Read BitLocker key', '429 tooManyRequests'],
    ]);

    const alerts = alertsSince(from, keys).map((alert) => alert.json.escrowAlert);
    const limitHits = alerts.filter((alert) => alert.kind === 'revealLimit');
    expect(limitHits).toEqual([expect.objectContaining({ keyId: keys[LIMIT].id, actor: expect.any(String), unusual: [] })]);
    expect(alerts.filter((alert) => alert.kind === 'reveal').map((alert) => alert.keyId)).toEqual([
      ...keys.slice(0, LIMIT).map((key) => key.id),
      keys[LIMIT].id,
    ]);
  });
});

describe('security events', () => {
  it('a device escrowing a key id another device holds is alerted once, naming both devices, without either password', async () => {
    const [victim, squatter] = [await registerDevice(stateDir), await registerDevice(stateDir)];
    const id = newId();
    const planted = { id, deviceId: squatter.deviceId, volumeType: '1', key: recoveryPassword() };
    const real = { id, deviceId: victim.deviceId, volumeType: '1', key: recoveryPassword() };
    const from = webhook.received.length;
    expect((await new DeviceClient(host.url, squatter).escrow(planted)).status).toBe(200);
    expect(alertsSince(from, [planted])).toEqual([]);
    // The webhook failing does not fail the device's escrow: only reveals fail closed.
    webhook.mode = 'fail';
    expect((await new DeviceClient(host.url, victim).escrow(real)).status).toBe(200);

    const alerts = alertsSince(from, [planted, real]);
    expect(alerts.map((alert) => alert.json.escrowAlert)).toEqual([
      {
        kind: 'keyIdCollision',
        at: expect.any(String),
        actor: `device ${victim.deviceId}`,
        keyId: id,
        deviceId: victim.deviceId,
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        unusual: [],
        details: { 'Held by device': squatter.deviceId },
      },
    ]);
  });
});

describe('a recovery password pasted into client text', () => {
  const APPROVE = 'BitLockerKey.Approve.All';
  const REQUESTS = '/v1.0/informationProtection/bitlocker/revealRequests';
  const GRANTS = '/v1.0/informationProtection/bitlocker/revealGrants';

  /** The password's spellings and each of its 6-digit groups: none may appear in `text`. */
  function expectNoneOf(password: string, text: string): void {
    const groups = password.split('-');
    expect(groups).toHaveLength(8);
    expect(secretsIn(text, [...keySpellings(password), ...groups])).toEqual([]);
  }

  it('is masked in reveal requests and grants, as stored and answered, and in the webhook bodies', async () => {
    const key = await escrowed();
    const pasted = recoveryPassword();
    const compact = recoveryPassword().replace(/-/g, '');
    const from = webhook.received.length;

    const requester = await helpdeskUser();
    const asked = await callOn(host.url, 'POST', REQUESTS, {
      token: requester,
      body: { keyId: key.id, reason: `lostPin:user read me ${pasted}`, ticket: compact },
    });
    expect(asked.status).toBe(201);
    expect(asked.json).toMatchObject({ reason: 'lostPin:user read me [recovery password]', ticket: '[recovery password]' });
    const again = await callOn(host.url, 'GET', `${REQUESTS}/${asked.json.id}`, { token: requester });
    expect(again.json).toMatchObject({ reason: 'lostPin:user read me [recovery password]', ticket: '[recovery password]' });

    const approver = await mint({ roles: [APPROVE], scopes: [READ], claims: { oid: randomUUID() }, groups: [randomUUID()] });
    const granted = await callOn(host.url, 'POST', GRANTS, {
      token: approver,
      body: { deviceGroupId: randomUUID(), granteeGroupId: randomUUID(), reason: `other:${pasted}`, ticket: compact, hours: 1 },
    });
    expect(granted.status).toBe(201);
    expect(granted.json).toMatchObject({ reason: 'other:[recovery password]', ticket: '[recovery password]' });
    const grant = await callOn(host.url, 'GET', `${GRANTS}/${granted.json.id}`, { token: approver });
    expect(grant.json).toMatchObject({ reason: 'other:[recovery password]', ticket: '[recovery password]' });

    const read = await reveal(await helpdeskUser(), key, { 'X-Reveal-Reason': 'lostPin', 'X-Reveal-Ticket': pasted });
    expect(read.status).toBe(200);

    const alerts = alertsSince(from, [key]);
    expect(alerts.map((alert) => alert.json.escrowAlert.kind)).toEqual(['approvalRequested', 'reveal']);
    expect(alerts[0].json.escrowAlert.details).toEqual({
      'Reveal request': asked.json.id,
      Reason: 'lostPin:user read me [recovery password]',
      Ticket: '[recovery password]',
    });
    expect(alerts[1].json.escrowAlert.details).toEqual({ Reason: 'lostPin', Ticket: '[recovery password]' });
    for (const body of [asked.text, again.text, granted.text, grant.text, ...alerts.map((alert) => alert.text)]) {
      expectNoneOf(pasted, body);
      expectNoneOf(compact.replace(/(\d{6})(?=\d)/g, '$1-'), body);
    }
  });
});
