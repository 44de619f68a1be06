// What a security alert says, and its JSON for a Teams- or Slack-style incoming webhook. Built from
// metadata only: the builders here are never handed a recovery password. The details may repeat client
// text (a reason, a ticket) where one can be pasted by mistake: they are masked as the audit trail masks it.

import { withoutSecrets } from '../redact';

/** What happened; the webhook's readers and the Sentinel rule (infra/sentinel/) use these names. */
export type AlertKind = 'reveal' | 'revealLimit' | 'approvalRequested' | 'keyIdCollision';

/** Why a reveal stands out (ALERT_ON=unusual sends only reveals with at least one). */
export type UnusualReason = 'firstReveal' | 'manyReveals' | 'outsideUsualScope' | 'selfService';

export interface SecurityAlert {
  kind: AlertKind;
  /** One line for a person: the webhook's `text` starts with it. */
  title: string;
  at: Date;
  /** Who acted, as the audit trail names them: a user's UPN or object id, an app id, or `device <id>`. */
  actor: string;
  keyId?: string;
  deviceId?: string;
  /** The request's id (the audit record's correlationId). */
  requestId?: string;
  /** Empty for a routine event. */
  unusual: UnusualReason[];
  /** Further facts by name (a reveal reason code, a ticket, another device's id); never a secret. */
  details?: Record<string, string>;
}

const UNUSUAL_TEXT: Record<UnusualReason, string> = {
  firstReveal: 'first reveal by this user',
  manyReveals: 'more reveals this hour than usual',
  outsideUsualScope: "a device outside the user's usual scope",
  selfService: 'self-service (the user holds no BitLocker role)',
};

/** The alert's details, client text in them masked (shared/redact.ts). */
const detailsOf = (alert: SecurityAlert): Record<string, string> =>
  Object.fromEntries(Object.entries(alert.details ?? {}).map(([name, value]) => [name, withoutSecrets(value)]));

/** The lines of the message, in the order a reader needs them. */
function linesOf(alert: SecurityAlert): string[] {
  const lines = [alert.title, `Who: ${alert.actor}`];
  if (alert.keyId !== undefined) lines.push(`Key: ${alert.keyId}`);
  if (alert.deviceId !== undefined) lines.push(`Device: ${alert.deviceId}`);
  if (alert.unusual.length > 0) lines.push(`Unusual: ${alert.unusual.map((reason) => UNUSUAL_TEXT[reason]).join('; ')}`);
  for (const [name, value] of Object.entries(detailsOf(alert))) lines.push(`${name}: ${value}`);
  lines.push(`When: ${alert.at.toISOString()}`);
  if (alert.requestId !== undefined) lines.push(`Request: ${alert.requestId}`);
  return lines;
}

/**
 * The webhook body: `text` is what a Slack incoming webhook and a Teams (Office 365 connector) incoming
 * webhook both show; `escrowAlert` carries the same facts as fields, for a Logic App, a Teams Workflow
 * or a SOAR playbook that parses them.
 */
export function webhookBody(alert: SecurityAlert): Record<string, unknown> {
  return {
    text: linesOf(alert).join('\n\n'),
    summary: alert.title,
    escrowAlert: {
      kind: alert.kind,
      at: alert.at.toISOString(),
      actor: alert.actor,
      keyId: alert.keyId,
      deviceId: alert.deviceId,
      requestId: alert.requestId,
      unusual: alert.unusual,
      details: detailsOf(alert),
    },
  };
}
