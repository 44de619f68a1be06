import { settings } from '../config';
import { unavailableByDecision } from '../errors/graphError';
import { type SecurityAlert, webhookBody } from './message';
import { postAlert } from './webhook';

// The one way out for a security alert: ALERT_ON decides whether it is sent, ALERT_FAIL_CLOSED what a
// reveal does when it cannot be. Everything but a reveal goes on whatever the webhook does (an escrow
// must never fail because a chat channel is down); its failure is logged, without the webhook's URL.

/** Seconds a refused reveal's client is told to wait: a webhook that failed is rarely back within a second. */
const FAIL_CLOSED_RETRY_AFTER_S = 30;

/** Under ALERT_ON=unusual a routine reveal is not sent; limit hits, approval requests and security events always are. */
const wanted = (alert: SecurityAlert): boolean => settings().alerts.on === 'every' || alert.kind !== 'reveal' || alert.unusual.length > 0;

/** Sends `alert` if the settings want it; 'failed' (logged) when the webhook did not take it within ALERT_TIMEOUT_SECONDS. */
async function send(alert: SecurityAlert): Promise<'sent' | 'skipped' | 'failed'> {
  const { webhookUrl, timeoutSeconds } = settings().alerts;
  if (webhookUrl === undefined || !wanted(alert)) return 'skipped';
  try {
    await postAlert(webhookUrl, webhookBody(alert), timeoutSeconds * 1000);
    return 'sent';
  } catch (error) {
    console.warn(
      JSON.stringify({ event: 'alertNotDelivered', kind: alert.kind, requestId: alert.requestId, reason: (error as Error).message }),
    );
    return 'failed';
  }
}

/** An alert about something that has happened or goes on regardless (approval requested, limit hit, key-id collision). */
export async function raiseAlert(alert: SecurityAlert): Promise<void> {
  await send(alert);
}

/** A reveal's alert, before its password is opened: with ALERT_FAIL_CLOSED, one not delivered refuses the reveal (503). */
export async function raiseRevealAlert(alert: SecurityAlert): Promise<void> {
  if ((await send(alert)) === 'failed' && settings().alerts.failClosed) {
    throw unavailableByDecision(
      'The security alert for this key read could not be delivered, and alerts are required (ALERT_FAIL_CLOSED): the key was not revealed. Try again later.',
      FAIL_CLOSED_RETRY_AFTER_S,
    );
  }
}
