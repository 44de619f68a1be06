import type { Caller } from '../auth/caller';
import { actorOf } from './actor';
import { raiseAlert } from './raise';

// Security events other than reveals, for the modules that see them happen. Each resolves once the
// webhook took the alert or failed to (logged): the operation that raised it goes on either way.

export interface ApprovalRequested {
  /** Who asks to read the key. */
  requester: Caller;
  /** The reveal request's id. */
  revealRequestId: string;
  keyId: string;
  deviceId?: string;
  /** The request's reason code or text and ticket, as the requester gave them (client text: bounded by the caller's schema). */
  reason?: string;
  ticket?: string;
}

/** Tells the webhook that a key read awaits a second person's approval (sent under ALERT_ON=every and =unusual). */
export async function alertApprovalRequested(request: ApprovalRequested): Promise<void> {
  const details: Record<string, string> = { 'Reveal request': request.revealRequestId };
  if (request.reason !== undefined) details.Reason = request.reason;
  if (request.ticket !== undefined) details.Ticket = request.ticket;
  await raiseAlert({
    kind: 'approvalRequested',
    title: 'Approval requested to reveal a BitLocker recovery key',
    at: new Date(),
    actor: actorOf(request.requester),
    keyId: request.keyId,
    deviceId: request.deviceId,
    unusual: [],
    details,
  });
}

export interface KeyIdCollision {
  /** The device that escrowed the id (the caller). */
  claimant: Caller;
  keyId: string;
  claimantDeviceId: string;
  /** The device whose record holds the id. */
  holderDeviceId: string;
  /** The audit record's correlation id. */
  requestId: string;
}

/** Tells the webhook that a device escrowed a key id another device holds (a squat, or a cloned disk image). */
export async function alertKeyIdCollision(collision: KeyIdCollision): Promise<void> {
  await raiseAlert({
    kind: 'keyIdCollision',
    title: 'A device escrowed a BitLocker key id that another device holds',
    at: new Date(),
    actor: actorOf(collision.claimant),
    keyId: collision.keyId,
    deviceId: collision.claimantDeviceId,
    requestId: collision.requestId,
    unusual: [],
    details: { 'Held by device': collision.holderDeviceId },
  });
}
