import { contentOf } from '../audit/entity';
import type { AuditEvent, AuditSource } from '../audit/model';
import type { RecordedAhead } from '../audit/scope';
import { writeReadAudit, writeReadAuditToOutbox } from '../audit/outbox';
import type { Caller } from '../auth/caller';
import { requireOwnDevice } from '../auth/device/access';
import { settings } from '../config';
import { markDisclosed, markSuperseded } from '../coverage/disclosures';
import { asIfAbsent, conflict, forbidden, GraphError, notFound, serviceUnavailable } from '../errors/graphError';
import { InFlightLimit } from '../storage/inFlightLimit';
import { isStorageError } from '../storage/storageError';
import { addAwaiting, listAwaiting, removeAwaiting } from './awaitingRotation';
import { successEvent } from './events';
import type { KeyMetadata, StoredRecoveryKey } from './model';
import * as store from './store';

// Single-use keys. A revealed password is known to someone else, so with ROTATE_AFTER_REVEAL the first
// allowed reveal marks the key disclosed (with the read's own audit record, in one transaction); its
// device then escrows a new key naming the old one (`@escrow.replaces`) and deletes the old one, which
// it may do only once the two are linked.
//
// A successor is stored in three steps, each an ETag-guarded write of one record with its audit twin:
//   1. reserve: the old key records which successor holds the right to replace it (successorPending).
//      Of two successors racing for one key, one reserves it; the other reads the reservation and is a
//      409 before anything of it is stored.
//   2. escrow: the successor is stored like any key, remembering the key it replaces.
//   3. link: the old key is retired (supersededBy), the reservation cleared.
// A failure after 1 or 2 loses nothing: the old key is still live and still listed as awaiting rotation.
// The same request again finds its own reservation, stores nothing new (the escrow is idempotent) and
// completes the link; so does a device's DELETE of the old key, and any other successor's attempt (which
// then answers 409 naming the successor). A reservation whose successor never came lapses after
// SUCCESSOR_RESERVATION_MS.

const MAX_ATTEMPTS = 5;

/** How long a reservation holds without its successor stored: longer than any request may take. */
export const SUCCESSOR_RESERVATION_MS = 5 * 60_000;

const contention = (): GraphError => serviceUnavailable('The recovery key is being changed by other requests; try again.', 1);

/** Who revealed a key, as the console shows it: a user's UPN, else the object or app id of the caller. */
export function readerOf(caller: Caller): string {
  if (caller.upn !== undefined) return caller.upn;
  if (caller.oid !== undefined) return `object ${caller.oid}`;
  return `app ${caller.appId ?? 'unknown'}`;
}

/** What the read's audit record adds about a key whose successor is linked: that the successor is the one to read. */
const retiredNote = (key: StoredRecoveryKey): string =>
  key.supersededBy === undefined ? '' : ` Key retired: superseded by key ${key.supersededBy}, the key to read now.`;

/**
 * Audits a reveal of `stored` (its password already opened, not yet answered) and, when it is the key's
 * first with ROTATE_AFTER_REVEAL on, marks the key disclosed in the same transaction as the read's audit
 * twin: the read's record names the disclosure. The key as it is after the reveal. With a record written
 * `ahead` (beside the read), that record is the read's: waited for, then completed in place.
 */
export async function auditReveal(
  stored: StoredRecoveryKey,
  source: AuditSource,
  fromSecondary: boolean,
  ahead?: RecordedAhead,
): Promise<StoredRecoveryKey> {
  // The record written ahead settles before any later version of it is written, which then replaces it.
  const aheadFailure = await ahead?.written.then(
    () => undefined,
    (failure: unknown) => failure ?? new Error('The audit record written ahead failed.'),
  );
  const version = (event: AuditEvent): AuditEvent => ahead?.pin(event) ?? event;
  const marking = settings().rotateAfterReveal && stored.disclosedDateTime === undefined;
  if (!marking || fromSecondary) {
    // Read from the secondary, the primary is down: the reveal is audited in the outbox and the key cannot
    // be marked; the record says so, for whoever follows up.
    const unmarked = marking ? ' Not marked disclosed: read from the secondary while the primary was down.' : '';
    const read = successEvent(source, 'read', stored, `${retiredNote(stored)}${unmarked}`.trim());
    if (ahead === undefined) await writeReadAudit(read, fromSecondary);
    // The audit table did not take the record: the outbox takes the whole one, as it takes a read's from the secondary.
    else if (aheadFailure !== undefined) await writeReadAuditToOutbox(version(read), aheadFailure);
    // The read is in the trail already; what the read found (the device, what let it through) follows.
    else if (!sameContent(ahead.event, version(read))) ahead.amend(read);
    return stored;
  }
  // The disclosure writes the read's record again (the same rows), with its twin, whatever became of the first.
  let current = stored;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const at = new Date();
    const disclosed = { ...current, disclosedDateTime: at.toISOString(), disclosedBy: readerOf(source.caller) };
    const due = current.supersededBy === undefined;
    const reason = `Disclosed: the first reveal of key ${current.id}${due ? '; rotation required (ROTATE_AFTER_REVEAL).' : '.'}${retiredNote(current)}`;
    // Both indexes before the record: a crash in between leaves a mark too many (checked against the record), never one too few.
    const indexes = () => Promise.all([markDisclosed(current.deviceId, current.id, at), due ? addAwaiting(disclosed) : undefined]);
    try {
      return await store.replaceKey(disclosed, current.etag, current, version(successEvent(source, 'read', current, reason)), indexes);
    } catch (error) {
      if (!isStorageError(error, 'versionMoved')) throw error;
    }
    const fresh = await store.getSameRow(current);
    if (!fresh || fresh.deletedDateTime !== undefined) throw notFound(`Recovery key ${current.id} was deleted while it was read.`);
    if (fresh.disclosedDateTime !== undefined) {
      // Another reveal marked it first: this one is a plain read.
      await writeReadAudit(version(successEvent(source, 'read', fresh, retiredNote(fresh).trim())), false);
      return fresh;
    }
    current = fresh;
  }
  throw contention();
}

/** Whether two versions of one record would store the same content. */
const sameContent = (a: AuditEvent, b: AuditEvent): boolean => JSON.stringify(contentOf(a, false)) === JSON.stringify(contentOf(b, false));

/** The key `successor` names in `@escrow.replaces`: who and where. */
export interface Successor {
  id: string;
  deviceId: string;
}

/**
 * Stores `successor` (through `escrow`, the ordinary write) as the successor of key `oldId`, then retires
 * that key. 404 when there is no such key, 403 when a device names another device's, 409 when it is on
 * another device than the successor, deleted, already superseded or being replaced by another key.
 */
export async function escrowSuccessor<T>(oldId: string, successor: Successor, source: AuditSource, escrow: () => Promise<T>): Promise<T> {
  if (oldId === successor.id) throw conflict(`Recovery key ${oldId} cannot replace itself (@escrow.replaces names the key written).`);
  requireOwnDevice(source.caller, successor.id, undefined, successor.deviceId);
  await requireNewSuccessor(oldId, successor);
  const reserved = await reserve(oldId, successor, source);
  let written: T;
  try {
    written = await escrow();
  } catch (error) {
    // A refused escrow (a 4xx) gives the right back at once; a failed one keeps it, for the request's repeat.
    if (error instanceof GraphError && error.status < 500) await release(reserved, successor.id, source);
    throw error;
  }
  await link(oldId, successor, source);
  return written;
}

/**
 * A successor is a new key. An existing one may only be the same successor again (a repeat that completes
 * its link): otherwise two of a device's keys could supersede each other, and the device, which may delete
 * a superseded key, could delete every key it has.
 */
async function requireNewSuccessor(oldId: string, successor: Successor): Promise<void> {
  // The record once; the device's own claim only when the record is another device's (getHeldBy, without
  // reading the record again when neither is this device's).
  const record = await store.getKey(successor.id);
  const existing = record?.deviceId === successor.deviceId ? record : ((await store.getClaim(successor.id, successor.deviceId)) ?? record);
  if (existing === undefined) return;
  if (existing.replaces === oldId && existing.deletedDateTime === undefined && existing.supersededBy === undefined) return;
  throw conflict(
    `Recovery key ${successor.id} already exists; a successor named with @escrow.replaces must be a new key ` +
      `(or, repeated, the same successor of key ${oldId}).`,
  );
}

/** The key `oldId` as held on `deviceId` (the record, or that device's claim), or the refusal that says why not. */
async function heldKey(oldId: string, successor: Successor, source: AuditSource): Promise<StoredRecoveryKey> {
  const held = await store.getHeldBy(oldId, successor.deviceId);
  if (held) return held;
  const record = await store.getKey(oldId);
  const absent = notFound(`Recovery key ${oldId} (named by @escrow.replaces) was not found.`);
  // A device is not told that another device holds the id (asIfAbsent): it is answered as an absent key.
  if (record && source.caller.device)
    throw asIfAbsent(absent, forbidden(`Recovery key ${oldId} belongs to another device; a device may replace only its own keys.`));
  if (record) {
    throw conflict(
      `Recovery key ${oldId} is on device ${record.deviceId}; its successor must be on the same device (${successor.deviceId}).`,
    );
  }
  throw absent;
}

/** Step 1: the old key, reserved for `successor` (or already linked to it). */
async function reserve(oldId: string, successor: Successor, source: AuditSource): Promise<StoredRecoveryKey> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await heldKey(oldId, successor, source);
    if (old.deletedDateTime !== undefined)
      throw conflict(`Recovery key ${oldId} (named by @escrow.replaces) is deleted; only a live key can be replaced.`);
    if (old.supersededBy === successor.id || old.successorPending?.id === successor.id) return old;
    if (old.supersededBy !== undefined) throw conflict(`Recovery key ${oldId} is already superseded by key ${old.supersededBy}.`);
    if (old.successorPending !== undefined) await refuseIfHeld(old, source);
    const reserving = { ...old, successorPending: { id: successor.id, since: new Date().toISOString() } };
    const reason = `Rotation: key ${successor.id} is being escrowed to replace key ${oldId}.`;
    try {
      return await store.replaceKey(reserving, old.etag, old, successEvent(source, 'update', old, reason));
    } catch (error) {
      if (!isStorageError(error, 'versionMoved', 'gone')) throw error;
    }
  }
  throw contention();
}

/**
 * Another successor holds `old`: if it was stored, its link is completed here and this one is a 409
 * naming it; if not, a 409 while its reservation holds; a lapsed one is simply taken over.
 */
async function refuseIfHeld(old: StoredRecoveryKey, source: AuditSource): Promise<void> {
  const pending = old.successorPending!;
  const stored = await pendingSuccessor(old);
  if (stored) {
    await link(old.id, stored, source);
    throw conflict(`Recovery key ${old.id} is already superseded by key ${stored.id}.`);
  }
  if (Date.now() - Date.parse(pending.since) < SUCCESSOR_RESERVATION_MS) {
    throw conflict(`Recovery key ${old.id} is being replaced by key ${pending.id}; a key has one successor.`);
  }
}

/** The successor `old` is reserved for, if it is stored, live, on the same device and names `old`. */
async function pendingSuccessor(old: StoredRecoveryKey): Promise<StoredRecoveryKey | undefined> {
  if (old.successorPending === undefined) return undefined;
  const candidate = await store.getHeldBy(old.successorPending.id, old.deviceId);
  return candidate?.deletedDateTime === undefined && candidate?.replaces === old.id ? candidate : undefined;
}

/** Gives a reservation back after the successor's escrow was refused. Best effort: it lapses anyway. */
async function release(reserved: StoredRecoveryKey, successorId: string, source: AuditSource): Promise<void> {
  const current = await store.getSameRow(reserved).catch(() => undefined);
  if (current?.successorPending?.id !== successorId || current.supersededBy !== undefined) return;
  const { successorPending: _released, ...rest } = current;
  try {
    await store.replaceKey(
      rest,
      current.etag,
      current,
      successEvent(source, 'update', current, `Rotation: key ${successorId} was refused; the reservation is given back.`),
    );
  } catch {
    // Lapses after SUCCESSOR_RESERVATION_MS.
  }
}

/** Step 3: retires key `oldId`, superseded by `successor`; nothing to do if it already is. */
async function link(oldId: string, successor: Successor, source: AuditSource): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const old = await store.getHeldBy(oldId, successor.deviceId);
    if (!old || old.deletedDateTime !== undefined)
      throw conflict(`Recovery key ${oldId} was deleted before its successor ${successor.id} was linked.`);
    if (old.supersededBy === successor.id) return afterLink(old, successor.id);
    if (old.supersededBy !== undefined) throw conflict(`Recovery key ${oldId} is already superseded by key ${old.supersededBy}.`);
    const { successorPending: _linked, ...rest } = old;
    const retired = { ...rest, supersededBy: successor.id, supersededDateTime: new Date().toISOString() };
    const reason = `Superseded by key ${successor.id}: key ${oldId} is retired, its successor escrowed.`;
    try {
      await store.replaceKey(retired, old.etag, old, successEvent(source, 'retire', old, reason));
      return afterLink(retired, successor.id);
    } catch (error) {
      if (!isStorageError(error, 'versionMoved')) throw error;
    }
  }
  throw contention();
}

/** The indexes after a link: off the awaiting list, and no longer counted by the coverage report. Best effort both. */
async function afterLink(old: StoredRecoveryKey | (StoredRecoveryKey & { supersededBy: string }), successorId: string): Promise<void> {
  if (old.disclosedDateTime === undefined) return;
  await Promise.all([
    removeAwaiting({ keyId: old.id, deviceId: old.deviceId, disclosedDateTime: old.disclosedDateTime }),
    markSuperseded(old.deviceId, old.id, successorId),
  ]);
}

/**
 * Before a device deletes its key `old`: the key as superseded, completing a link whose successor is
 * stored (a request that failed after the escrow); a 403 for a key that is not superseded.
 */
export async function requireSuperseded(old: StoredRecoveryKey, source: AuditSource): Promise<void> {
  if (old.supersededBy !== undefined) return;
  const stored = await pendingSuccessor(old);
  if (stored) return link(old.id, stored, source);
  throw forbidden(
    `Recovery key ${old.id} is not superseded: a device may delete its own key only after escrowing its successor with @escrow.replaces.`,
  );
}

/** Point reads of records behind the awaiting list, in flight at once on this instance across all requests. */
const AWAITING_READS_IN_FLIGHT = 8;
const awaitingReads = new InFlightLimit(AWAITING_READS_IN_FLIGHT);

/** An awaiting entry older than this whose key was never marked disclosed is left over from a failed reveal. */
const UNMARKED_ENTRY_MS = 5 * 60_000;

/**
 * One page of the keys awaiting rotation, longest waiting first: one query of the awaiting index and a
 * point read of each entry's record, which is the truth. Entries that no longer hold (the key superseded,
 * deleted, or never marked by a reveal that failed) are left out and removed; a page may come out short.
 */
export async function listAwaitingRotation(pageSize: number, continuation?: string): Promise<store.Page> {
  const page = await listAwaiting(pageSize, continuation);
  const now = Date.now();
  const checked = await Promise.all(
    page.entries.map(async (entry) => {
      const key = await awaitingReads.run(() => store.getHeldBy(entry.keyId, entry.deviceId));
      if (key?.deletedDateTime === undefined && key?.supersededBy === undefined && key?.disclosedDateTime === entry.disclosedDateTime) {
        return key;
      }
      // A reveal in flight has written its entry and not yet its record: left alone until it is surely over.
      const inFlight =
        key !== undefined && key.disclosedDateTime === undefined && now - Date.parse(entry.disclosedDateTime) < UNMARKED_ENTRY_MS;
      if (!inFlight) await removeAwaiting(entry);
      return undefined;
    }),
  );
  return { items: checked.filter((key): key is StoredRecoveryKey => key !== undefined), continuation: page.continuation };
}

/** The most keys of one device a mirrored key is compared with: far above BitLocker's protectors per volume. */
const DEVICE_KEYS_READ = 200;

/**
 * A key that arrived by another road than a successor's escrow (the Entra mirror: Intune's rotation, or a
 * user's) supersedes each disclosed, unsuperseded key of its device and volume type disclosed before it
 * was created. The ids of the keys it retired.
 */
export async function supersedeDisclosedBy(key: KeyMetadata, source: AuditSource): Promise<string[]> {
  const { items } = await store.listByDevice(key.deviceId, DEVICE_KEYS_READ);
  const retired: string[] = [];
  for (const old of items) {
    const due = old.disclosedDateTime !== undefined && old.supersededBy === undefined && old.id !== key.id;
    if (!due || old.volumeType !== key.volumeType || Date.parse(old.disclosedDateTime!) >= Date.parse(key.createdDateTime)) continue;
    try {
      await link(old.id, key, source);
      retired.push(old.id);
    } catch (error) {
      // Superseded meanwhile by a device's own successor, or deleted: nothing left to do for it.
      if (!(error instanceof GraphError && error.status === 409)) throw error;
    }
  }
  return retired;
}
