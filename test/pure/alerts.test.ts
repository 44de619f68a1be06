import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { alertApprovalRequested, alertKeyIdCollision } from '../../shared/alerts/events';
import { raiseRevealAlert } from '../../shared/alerts/raise';
import type { Caller } from '../../shared/auth/caller';
import { ConfigError, readSettings, resetSettings } from '../../shared/config';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

// ALERT_ON=unusual, the approval-request alert other modules call, and the settings' refusals, against
// a loopback webhook. Over HTTP the reveal alerts are tested in test/http/alerts.test.ts.

let webhook: WebhookReceiver;
const user: Caller = { oid: randomUUID(), upn: 'ana@contoso.example', delegated: true, permissions: new Set() };
const saved = { ...process.env };

function configure(env: Record<string, string>): void {
  Object.assign(process.env, env);
  resetSettings();
}

beforeAll(async () => {
  webhook = await startWebhookReceiver();
});
afterAll(async () => {
  process.env = saved;
  resetSettings();
  await webhook.close();
});

const reveal = (unusual: ('firstReveal' | 'selfService')[]) =>
  raiseRevealAlert({
    kind: 'reveal',
    title: 'BitLocker recovery key revealed',
    at: new Date(),
    actor: 'ana',
    keyId: randomUUID(),
    unusual,
  });

describe('ALERT_ON=unusual', () => {
  beforeAll(() =>
    configure({ ALERT_WEBHOOK_URL: webhook.url, ALERT_ON: 'unusual', ALERT_FAIL_CLOSED: 'true', ALERT_TIMEOUT_SECONDS: '10' }),
  );

  it('sends a reveal only when something makes it unusual; a routine one passes without a message (nor a refusal)', async () => {
    const from = webhook.received.length;
    webhook.mode = 'fail';
    await expect(reveal([])).resolves.toBeUndefined();
    expect(webhook.received.length).toBe(from);
    webhook.mode = 'accept';
    await reveal(['selfService']);
    expect(webhook.received.slice(from).map((alert) => alert.json.escrowAlert.unusual)).toEqual([['selfService']]);
    expect(webhook.received.at(-1)!.json.text).toContain('self-service (the user holds no BitLocker role)');
  });

  it('always sends approval requests and key-id collisions, and goes on when the webhook fails', async () => {
    const from = webhook.received.length;
    const keyId = randomUUID();
    await alertApprovalRequested({ requester: user, revealRequestId: 'req-1', keyId, reason: 'lostPin', ticket: 'INC7' });
    webhook.mode = 'fail';
    await expect(
      alertKeyIdCollision({ claimant: user, keyId, claimantDeviceId: randomUUID(), holderDeviceId: randomUUID(), requestId: randomUUID() }),
    ).resolves.toBeUndefined();
    webhook.mode = 'accept';
    expect(webhook.received.slice(from).map((alert) => alert.json.escrowAlert)).toEqual([
      {
        kind: 'approvalRequested',
        at: expect.any(String),
        actor: `ana@contoso.example (${user.oid})`,
        keyId,
        unusual: [],
        details: { 'Reveal request': 'req-1', Reason: 'lostPin', Ticket: 'INC7' },
      },
      expect.objectContaining({ kind: 'keyIdCollision', keyId }),
    ]);
  });
});

describe('settings', () => {
  it.each([
    [{ ALERT_WEBHOOK_URL: 'http://hooks.example.net/x' }, /ALERT_WEBHOOK_URL must be an https URL/],
    [{ ALERT_WEBHOOK_URL: 'not a url' }, /ALERT_WEBHOOK_URL must be an absolute URL/],
    [{ ALERT_WEBHOOK_URL: 'https://user:pw@hooks.example.net/x' }, /must not carry a fragment or credentials/],
    [{ ALERT_FAIL_CLOSED: 'true' }, /ALERT_FAIL_CLOSED=true needs ALERT_WEBHOOK_URL/],
    [{ ALERT_ON: 'sometimes' }, /ALERT_ON must be 'every' or 'unusual'/],
    [{ REVEAL_LIMIT_PER_HOUR: '0' }, /REVEAL_LIMIT_PER_HOUR must be a whole number from 1/],
    [{ INTUNE_ROTATE_ON_REVEAL: 'yes' }, /INTUNE_ROTATE_ON_REVEAL must be 'true' or 'false'/],
  ])('refuses %j, naming the setting and never its value', (env, message) => {
    let thrown: unknown;
    try {
      readSettings({ AUTH_MODE: 'local', ...env });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain('pw@');
  });

  it('keeps a webhook query (where Teams carries its signature) and reads the defaults', () => {
    const read = readSettings({ ALERT_WEBHOOK_URL: 'https://example.webhook.office.com/webhookb2/a?sig=s1' });
    expect({ alerts: read.alerts, limit: read.revealLimitPerHour, intune: read.intuneRotateOnReveal }).toEqual({
      alerts: {
        webhookUrl: 'https://example.webhook.office.com/webhookb2/a?sig=s1',
        on: 'every',
        failClosed: false,
        timeoutSeconds: 5,
        unusualRevealsPerHour: 10,
      },
      limit: 30,
      intune: false,
    });
  });
});
