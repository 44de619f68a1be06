import { randomUUID } from 'node:crypto';
import { asIfAbsent, badRequest, conflict, GraphError, notFound, preconditionFailed, serviceUnavailable } from '../errors/graphError';
import { keyNotFound } from './notFound';
import { KeyDeletedError, PasswordChangedError } from './writeRefusals';
import type { Preconditions } from '../http/preconditions';
import type { AuditSource } from '../audit/model';
import type { AuditScope } from '../audit/scope';
import { auditEvent } from '../audit/model';
import { requireOwnDevice } from '../auth/device/access';
import { limitPasswordComparisons } from '../auth/rateLimit';
import { writeAuditEntry } from '../audit/store';
import { type FromEither, primaryMarkedDown } from '../storage/secondary';
import { type KeyMetadata, type KeyRecord, type RecoveryKey, type RecoveryKeyInput, rotationOf, type StoredRecoveryKey } from './model';
import { modifiedProperties } from './changes';
import { successEvent } from './events';
export { successEvent };
import { requireComplete } from './schema';
import { isSealedWithActiveKey, isStoredPassword, openPassword, sealPassword } from './sealing';
import * as store from './store';
import { isStorageError, StorageError } from '../storage/storageError';
import { settings } from '../config';
import { OneAtATime } from './oneAtATime';
import { alertKeyIdCollision } from '../alerts/events';
import { LostRace, retryLostRaces } from '../storage/retryLostRaces';
import { auditReveal, escrowSuccessor, requireSuperseded } from './rotation';

// Use cases of the recovery-key resource. Each write reads the stored version and writes against its
// ETag, so concurrent writers cannot overwrite each other unseen; a lost race is simply tried again
// from a fresh read (a client's own If-Match is never retried: its 412 is the answer).
// Every successful write carries its audit event into the store, which commits the two together;
// refusals and failures are audited by the caller (functions/recoveryKeys.ts).

const MAX_ATTEMPTS = 5;

export interface WriteResult {
  stored: StoredRecoveryKey;
  /**
   * The recovery password the request itself carried, to echo in the response; absent when it carried
   * none. Never a stored password: only an authorized, audited key read returns one (README, security model).
   */
  key?: string;
}

export function checkPreconditions(current: StoredRecoveryKey | undefined, pre: Preconditions): void {
  if (pre.ifMatch !== undefined) {
    if (!current) throw preconditionFailed('If-Match was given but the recovery key does not exist.');
    if (pre.ifMatch !== '*' && pre.ifMatch !== current.etag) {
      throw preconditionFailed('The recovery key has changed since the ETag given in If-Match.');
    }
  }
  if (pre.ifNoneMatch !== undefined && current && (pre.ifNoneMatch === '*' || pre.ifNoneMatch === current.etag)) {
    throw preconditionFailed('If-None-Match was given but the recovery key exists.');
  }
}

/** A client's own ETag pins the version: its 412 is the answer, never retried. '*' only asks that the key exist. */
export const pinsVersion = (pre: Preconditions): boolean => pre.ifMatch !== undefined && pre.ifMatch !== '*';

/** The version a write is made against: the client's ETag, or the one just read (never '*', which could overwrite a concurrent change). */
export const writeEtag = (current: StoredRecoveryKey, pre: Preconditions): string => (pinsVersion(pre) ? pre.ifMatch! : current.etag);

function sameMetadata(a: KeyMetadata, b: KeyMetadata): boolean {
  return a.id === b.id && a.deviceId === b.deviceId && a.volumeType === b.volumeType && a.createdDateTime === b.createdDateTime;
}

function mergeMetadata(current: StoredRecoveryKey, input: RecoveryKeyInput): KeyMetadata {
  if (input.createdDateTime !== undefined && input.createdDateTime !== current.createdDateTime) {
    throw badRequest(`createdDateTime cannot change once a key is stored (it is ${current.createdDateTime}).`);
  }
  return {
    id: current.id,
    deviceId: input.deviceId ?? current.deviceId,
    volumeType: input.volumeType ?? current.volumeType,
    createdDateTime: current.createdDateTime,
  };
}

/** The record of `key` as stored: its recovery password sealed (shared/recoveryKeys/sealing.ts), never in plain text. */
const sealRecord = (key: RecoveryKey, claim?: true): KeyRecord => {
  const { key: password, ...metadata } = key;
  return { ...metadata, sealed: sealPassword(key.id, password), ...(claim && { claim }) };
};

/**
 * BitLocker never changes the password of a key protector; a rotated password is a new protector
 * with a new ID. So a different password under a stored id is refused, whoever sends it.
 */

/**
 * Whether `sent` is the stored password of `current`. A comparison tells a writer whether a guess is
 * right, so it is limited like a key read (per caller and per key) and a wrong one is audited as a
 * comparison; the adoption tools, which run in-process with the storage's own credentials, are not limited.
 */
async function comparePassword(current: StoredRecoveryKey, sent: string, source: AuditSource): Promise<boolean> {
  if (source.importedFrom === undefined) limitPasswordComparisons(source.caller, current.id);
  const same = isStoredPassword(current, sent);
  if (!same) {
    const reason = 'The sent recovery password differs from the stored one.';
    await writeAuditEntry(auditEvent(source, 'compare', 'failure', reason, { keyId: current.id, deviceId: current.deviceId }));
  }
  return same;
}

/**
 * A write to an existing key. The stored password is decrypted only when the request carries one, to
 * compare the two (the same password is the idempotent no-op; a different one is a 409), never to
 * answer with it: a writer cannot read a key.
 */
async function updateExisting(
  current: StoredRecoveryKey,
  input: RecoveryKeyInput,
  pre: Preconditions,
  source: AuditSource,
  replaces?: string,
): Promise<WriteResult> {
  const metadata = mergeMetadata(current, input);
  if (input.key !== undefined && !(await comparePassword(current, input.key, source))) throw new PasswordChangedError(current.id);
  if (metadata.deviceId !== current.deviceId && (await store.getClaim(current.id, metadata.deviceId))) {
    // Moving the record there would give that device two keys under one id, and hide one of them.
    throw conflict(`Device ${metadata.deviceId} holds its own claim on key ${current.id}; the record cannot move to it.`);
  }
  if (metadata.deviceId !== current.deviceId) await requireRoomOnDevice(metadata.deviceId, source);
  if (sameMetadata(metadata, current) && (replaces === undefined || replaces === current.replaces)) {
    // Nothing to write; the attempt is audited all the same (a sent password, as the comparison it was).
    await writeAuditEntry(
      input.key === undefined
        ? successEvent(source, 'update', current, 'No change: the stored key already matched.')
        : auditEvent(source, 'compare', 'success', 'No change: the sent recovery password matched the stored one.', {
            keyId: current.id,
            deviceId: current.deviceId,
          }),
    );
    return { stored: current, key: input.key };
  }
  // A write that holds the password anyway (the request sent it) also moves the record to the active
  // encryption key; one that does not keeps the ciphertext as it is, and `npm run reencrypt` moves it.
  const reseal = input.key !== undefined && !isSealedWithActiveKey(current);
  const record: KeyRecord = {
    ...(reseal ? sealRecord({ ...metadata, key: input.key! }, current.claim) : { ...metadata, sealed: current.sealed }),
    ...(current.claim && { claim: current.claim }),
    ...keptState(current),
    ...(replaces !== undefined && { replaces }),
  };
  const stored = await store.replaceKey(
    record,
    writeEtag(current, pre),
    current,
    successEvent(source, 'update', record, successorReason(replaces), modifiedProperties(current, record)),
  );
  return { stored, key: input.key };
}

/** What a write of a key's properties keeps as it was: its rotation, and the key it replaces. */
const keptState = (current: KeyRecord): Partial<KeyRecord> => ({
  ...rotationOf(current),
  ...(current.replaces !== undefined && { replaces: current.replaces }),
  ...(current.successorPending && { successorPending: current.successorPending }),
});

/** The audit reason of a successor's escrow: both key ids, the new one being the record's. */
const successorReason = (replaces: string | undefined): string =>
  replaces === undefined ? '' : `Successor escrowed: replaces key ${replaces} (@escrow.replaces).`;

function newRecoveryKey(id: string, input: RecoveryKeyInput): RecoveryKey {
  return requireComplete({ ...input, id, createdDateTime: input.createdDateTime ?? new Date().toISOString() });
}

/**
 * The device hook: a device caller (EntraDevice) may write only a key whose stored record is its own and
 * whose written deviceId is its own. Checked against the record read inside the write, before anything
 * is stored; a refusal is a 403 that the caller audits. Callers with a token pass unchecked.
 */
const requireDeviceOwnsKey = (
  source: AuditSource,
  keyId: string,
  current: KeyMetadata | undefined,
  writtenDeviceId: string | undefined,
): void => requireOwnDevice(source.caller, keyId, current?.deviceId, writtenDeviceId);

export const contention = (): GraphError => serviceUnavailable('The recovery key is being changed by other requests; try again.', 1);
const throwContention = (): never => {
  throw contention();
};

/**
 * PATCH: creates the key if absent (all properties required), otherwise merges the given properties.
 * Repeating the same PATCH writes nothing and returns the same object. A `key` other than the stored
 * one is a 409 conflict on every attempt, retries after a lost race included: each attempt compares
 * against a fresh read, so a password is never overwritten.
 */
export async function upsertRecoveryKey(
  id: string | undefined,
  input: RecoveryKeyInput,
  pre: Preconditions,
  source: AuditSource,
  replaces?: string,
): Promise<WriteResult> {
  const keyId = id ?? input.id ?? randomUUID();
  if (replaces === undefined) return upsertOnce(keyId, input, pre, source);
  const deviceId = input.deviceId ?? source.caller.device?.deviceId ?? (await writeTarget(source, keyId)).current?.deviceId;
  if (deviceId === undefined) throw badRequest('deviceId is required when a recovery key is created');
  return escrowSuccessor(replaces, { id: keyId, deviceId }, source, () => upsertOnce(keyId, input, pre, source, replaces));
}

function upsertOnce(
  keyId: string,
  input: RecoveryKeyInput,
  pre: Preconditions,
  source: AuditSource,
  replaces?: string,
): Promise<WriteResult> {
  return retryLostRaces(
    MAX_ATTEMPTS,
    async () => {
      const { current, heldBy } = await writeTarget(source, keyId);
      requireDeviceOwnsKey(source, keyId, current, input.deviceId);
      if (current?.deletedDateTime !== undefined) throw new KeyDeletedError(keyId);
      checkPreconditions(current, pre);
      try {
        if (!current) return await insertNew(newRecoveryKey(keyId, input), source, heldBy, replaces);
        return await updateExisting(current, input, pre, source, replaces);
      } catch (error) {
        // Lost races: another writer changed the key (412) or deleted it (404) since our read, or
        // created it first (409). Unless the client pinned the version, the write starts over from a
        // fresh read, so an upsert racing a DELETE re-creates the key rather than answering 404.
        const changedOrDeleted = isStorageError(error, 'versionMoved', 'gone');
        const lostRace = current ? changedOrDeleted && !pinsVersion(pre) : isStorageError(error, 'exists') && pre.ifNoneMatch === undefined;
        if (lostRace) return new LostRace(error);
        if (current && changedOrDeleted) throw preconditionFailed('The recovery key has changed since the ETag given in If-Match.');
        throw !current && isStorageError(error, 'exists')
          ? preconditionFailed('If-None-Match was given but the recovery key exists.')
          : error;
      }
    },
    throwContention,
  );
}

/**
 * What a write of key id `keyId` works on: its record, or, for a device whose record of that id is another
 * device's (`heldBy`), the device's own claim (absent until its first escrow). A key id is not a secret
 * (it is on the recovery screen): a device's escrow never replaces, blocks or hides another device's.
 */
async function writeTarget(source: AuditSource, keyId: string): Promise<{ current?: StoredRecoveryKey; heldBy?: StoredRecoveryKey }> {
  const record = await store.getKey(keyId);
  const device = source.caller.device;
  if (!device || !record || record.deviceId === device.deviceId) return { current: record };
  return { current: await store.getClaim(keyId, device.deviceId), heldBy: record };
}

/** The audit reason of a device's claim on an id that `heldBy`'s device holds (compared inside, never answered). */
function claimReason(key: RecoveryKey, heldBy: StoredRecoveryKey): string {
  const same = heldBy.deletedDateTime === undefined && isStoredPassword(heldBy, key.key);
  return (
    `Security: key id ${key.id} is already held by device ${heldBy.deviceId}` +
    `${heldBy.deletedDateTime === undefined ? '' : ' (deleted)'}, with ${same ? 'the same' : 'a different'} recovery password; ` +
    `stored as device ${key.deviceId}'s own claim beside it. A key read of this id must name the device.`
  );
}

/** Live keys of `deviceId`, counted until `upTo`: the index's count, checked against the records only near the limit. */
async function liveKeysOf(deviceId: string, upTo: number): Promise<number> {
  if ((await store.countDeviceEntries(deviceId, upTo)) < upTo) return 0;
  let count = 0;
  let continuation: string | undefined;
  do {
    const page = await store.listByDevice(deviceId, 1000, continuation);
    count += page.items.length;
    continuation = page.continuation;
  } while (continuation !== undefined && count < upTo);
  return count;
}

/**
 * 409 when device `deviceId` already holds MAX_KEYS_PER_DEVICE live keys, as Entra ID refuses a 201st.
 * Without a cap one device could write thousands of keys, burying a real key among decoys sharing its
 * first characters. The adoption tools bring in what another escrow already holds, and are not capped.
 * A full device may still escrow the successor of a key the helpdesk revealed (`replaces`): otherwise it
 * could never rotate it, and could delete nothing to make room (a device deletes only superseded keys).
 * Reveals are what bound those: a device cannot disclose its own keys.
 */
async function requireRoomOnDevice(deviceId: string, source: AuditSource, replaces?: string): Promise<void> {
  if (source.importedFrom !== undefined) return;
  const limit = settings().maxKeysPerDevice;
  if ((await liveKeysOf(deviceId, limit)) < limit) return;
  if (replaces !== undefined && (await replacesRevealedKey(deviceId, replaces))) return;
  throw conflict(
    `Device ${deviceId} already holds ${limit} live recovery keys, the most a device may hold (MAX_KEYS_PER_DEVICE); ` +
      'delete keys the device no longer uses before escrowing another.',
  );
}

/** The key `replaces` is live on `deviceId`, revealed and not yet superseded: its successor is a rotation, not a new key. */
async function replacesRevealedKey(deviceId: string, replaces: string): Promise<boolean> {
  const old = await store.getHeldBy(replaces, deviceId);
  return old !== undefined && old.deletedDateTime === undefined && old.disclosedDateTime !== undefined && old.supersededBy === undefined;
}

/** New keys of one device are counted and written one at a time (see OneAtATime). */
const newKeysOfDevice = new OneAtATime();

async function insertNew(key: RecoveryKey, source: AuditSource, heldBy?: StoredRecoveryKey, replaces?: string): Promise<WriteResult> {
  const stored =
    source.importedFrom !== undefined
      ? await insertCounted(key, source, heldBy, replaces)
      : await newKeysOfDevice.run(key.deviceId, async () => {
          await requireRoomOnDevice(key.deviceId, source, replaces);
          return insertCounted(key, source, heldBy, replaces);
        });
  // After the device's turn: an alert's webhook must not hold the device's next key.
  if (heldBy) {
    await alertKeyIdCollision({
      claimant: source.caller,
      keyId: key.id,
      claimantDeviceId: key.deviceId,
      holderDeviceId: heldBy.deviceId,
      requestId: source.requestId,
    });
  }
  return { stored, key: key.key };
}

async function insertCounted(
  key: RecoveryKey,
  source: AuditSource,
  heldBy?: StoredRecoveryKey,
  replaces?: string,
): Promise<StoredRecoveryKey> {
  const changes = modifiedProperties(undefined, key);
  const event = heldBy
    ? auditEvent(source, 'claim', 'success', `${claimReason(key, heldBy)} ${successorReason(replaces)}`.trim(), {
        keyId: key.id,
        deviceId: key.deviceId,
        modifiedProperties: changes,
      })
    : successEvent(source, 'add', key, successorReason(replaces), changes);
  return store.insertKey({ ...sealRecord(key, heldBy && true), ...(replaces !== undefined && { replaces }) }, event);
}

/**
 * Stores a new key for an adoption tool (`source.importedFrom`) that has just found its id free
 * (`findRecoveryKey`), without reading it again: the record's insert is conditional, so a key created
 * meanwhile fails it with StorageError 'exists', for the tool to decide again from a fresh read. The
 * same writes, audit event and (absent) cap as an upsert's insert; one storage request fewer.
 */
export async function insertImportedKey(key: RecoveryKey, source: AuditSource): Promise<WriteResult> {
  if (source.importedFrom === undefined) throw new Error('insertImportedKey stores only what an adoption tool brings in');
  return insertNew(key, source);
}

/** POST: creates the key; 409 if its id exists. */
export async function createRecoveryKey(input: RecoveryKeyInput, source: AuditSource, replaces?: string): Promise<WriteResult> {
  const key = newRecoveryKey(input.id ?? randomUUID(), input);
  if (replaces === undefined) return createOnce(key, source);
  return escrowSuccessor(replaces, key, source, () => createOnce(key, source, replaces));
}

async function createOnce(key: RecoveryKey, source: AuditSource, replaces?: string): Promise<WriteResult> {
  // A known id is refused before anything is written: the store adds the device index entry ahead of
  // the record, so a conflict found by the insert would leave an entry under the POSTed deviceId.
  const { current: existing, heldBy } = await writeTarget(source, key.id);
  requireDeviceOwnsKey(source, key.id, existing, key.deviceId);
  if (existing?.deletedDateTime !== undefined) throw new KeyDeletedError(key.id);
  if (existing) throw conflict(`Recovery key ${key.id} already exists.`);
  return insertNew(key, source, heldBy, replaces);
}

/** The stored key with this id, deleted or not, or undefined: metadata, the password still sealed. */
export const findRecoveryKey = (id: string): Promise<StoredRecoveryKey | undefined> => store.getKey(id);

/**
 * Which holders of a shared key id a caller may see (the reveal layer's rules, shared/reveal/holders.ts);
 * undefined for a caller who sees every device.
 */
export type HolderVisibility = (key: StoredRecoveryKey) => Promise<boolean>;

/**
 * The live key `id`, of device `deviceId` if named, read from the secondary if the primary is down; a
 * deleted one is absent here as everywhere but directory/deletedItems. Graph's key id is unique, so when
 * several devices hold the id (a device's claim beside another's record) and none is named, the answer
 * is a 409 naming the devices: the service never picks one of two passwords for the caller. A caller
 * who sees only some devices (`visible`) is answered over the holders it may see: none is an absent key
 * (the 409 kept for the audit trail), one is that key, as if its device were named.
 */
async function readLiveKey(id: string, deviceId?: string, visible?: HolderVisibility): Promise<FromEither<StoredRecoveryKey>> {
  const { value: stored, fromSecondary } = await store.readHolders(id);
  const live = stored.filter(isLive).filter((key) => deviceId === undefined || key.deviceId === deviceId);
  if (live.length === 0) throw keyNotFound(id, deviceId);
  const heldBy = (keys: StoredRecoveryKey[]) =>
    conflict(
      `Recovery key ${id} is held by ${keys.length} devices (${keys.map((key) => key.deviceId).join(', ')}); ` +
        `name the caller's device with ?deviceId=<device id>.`,
    );
  let holders = live;
  if (holders.length > 1 && visible) {
    const shown = await Promise.all(holders.map(visible));
    holders = holders.filter((_, i) => shown[i]);
    if (holders.length === 0) throw asIfAbsent(keyNotFound(id, deviceId), heldBy(live));
  }
  if (holders.length > 1) throw heldBy(holders);
  return { value: holders[0], fromSecondary };
}

/** A live key (of device `deviceId`, when several devices hold the id, or the one of them `visible` lets through). */
export async function getRecoveryKey(id: string, deviceId?: string, visible?: HolderVisibility): Promise<StoredRecoveryKey> {
  return (await readLiveKey(id, deviceId, visible)).value;
}

/**
 * A key with its recovery password, for BitLockerKey.Read.All: audited before the password leaves this
 * function (in the audit outbox when the tables' primary is down: shared/audit/outbox.ts). Given the
 * operation's audit `scope`, the read's record is written beside the read, not after it (the record
 * needs nothing the read returns: the key id is the route's), and the password waits for both: one
 * round trip. The record is then completed with what the read found (rotation.ts auditReveal), and a
 * read that fails or is refused replaces it with its refusal (the scope's recordFailure).
 */
export async function readRecoveryPassword(
  id: string,
  source: AuditSource,
  options: {
    deviceId?: string;
    visible?: HolderVisibility;
    permit?: (stored: StoredRecoveryKey) => Promise<void>;
    scope?: AuditScope;
  } = {},
): Promise<{ stored: StoredRecoveryKey; key: string }> {
  // A copy of the source: the reveal rules name in the source what let the read through, which the
  // record written ahead cannot know yet. To the audit table only, never ahead into the outbox, whose
  // immutable lines could not be taken back if the read is refused; while the table's primary is down,
  // the read is audited after it, as before (rotation.ts auditReveal).
  const ahead = primaryMarkedDown()
    ? undefined
    : options.scope?.recordAhead(successEvent({ ...source }, 'read', { id, deviceId: options.deviceId }), (event) =>
        writeAuditEntry(event),
      );
  const { value: stored, fromSecondary } = await readLiveKey(id, options.deviceId, options.visible);
  // The reveal rules see the key's metadata (its device above all) before its password is opened.
  await options.permit?.(stored);
  const key = openPassword(stored);
  // Audited before the password leaves; the first reveal also marks the key disclosed (rotation.ts).
  return { stored: await auditReveal(stored, source, fromSecondary, ahead), key };
}

/**
 * DELETE: a soft delete. The key leaves every read, list and write, and is kept, sealed, for
 * DELETED_KEY_RETENTION_DAYS, restorable with its password (shared/recoveryKeys/deletedKeys.ts).
 */
export function deleteRecoveryKey(id: string, pre: Preconditions, source: AuditSource): Promise<StoredRecoveryKey> {
  const live = (key: StoredRecoveryKey | undefined) => (key?.deletedDateTime === undefined ? key : undefined);
  return writeCurrentVersion(id, pre, live, keyNotFound(id).message, async (current, etag) => {
    if (source.caller.device) {
      // A device deletes only its own key, and only once its successor is linked; a link left half done
      // (the successor stored, the key not yet retired) is completed first, and the delete tried again.
      requireOwnDevice(source.caller, id, current.deviceId, undefined);
      if (current.supersededBy === undefined) {
        await requireSuperseded(current, source);
        throw new StorageError('versionMoved', `Recovery key ${id} was linked to its successor just now.`, 'The recovery key');
      }
    }
    const deleted = { ...current, deletedDateTime: new Date().toISOString() };
    return store.softDeleteKey(deleted, etag, successEvent(source, 'delete', current));
  });
}

/**
 * Runs `write` against a fresh read of key `id`, as `pick` sees it (undefined: absent for this
 * operation), and the version to write against (writeEtag), until it wins its ETag race: a lost race is
 * tried again from a fresh read unless the client pinned the version with If-Match. Throws 404 with
 * `notFoundMessage` when the key is absent or goes away, 412 for a failed precondition, 503 after
 * MAX_ATTEMPTS lost races. The shape of DELETE, restore and purge (deletedKeys.ts).
 */
export async function writeCurrentVersion<K extends StoredRecoveryKey, T>(
  id: string,
  pre: Preconditions,
  pick: (key: StoredRecoveryKey | undefined) => K | undefined,
  notFoundMessage: string,
  write: (current: K, etag: string) => Promise<T>,
): Promise<T> {
  return retryLostRaces(
    MAX_ATTEMPTS,
    async () => {
      const current = pick(await store.getKey(id));
      checkPreconditions(current, pre);
      if (!current) throw notFound(notFoundMessage);
      try {
        return await write(current, writeEtag(current, pre));
      } catch (error) {
        if (isStorageError(error, 'gone')) throw notFound(notFoundMessage);
        if (isStorageError(error, 'versionMoved') && !pinsVersion(pre)) return new LostRace(error);
        throw error;
      }
    },
    throwContention,
  );
}

const isLive = (key: KeyRecord): boolean => key.deletedDateTime === undefined;

export type KeyQuery = { kind: 'deviceId'; deviceId: string } | { kind: 'id'; id: string } | { kind: 'idPrefix'; prefix: string };

/** A page holds at most this many storage round trips, so that a sparse page cannot hold a request up. */
const MAX_FETCHES_PER_PAGE = 5;

async function fetchPage(query: KeyQuery | undefined, size: number, continuation?: string): Promise<store.Page<KeyMetadata>> {
  if (query?.kind === 'deviceId') return store.listByDevice(query.deviceId, size, continuation);
  if (query === undefined) return store.listAll(size, continuation);
  const page = await store.listKeys(size, continuation, query.kind === 'idPrefix' ? query.prefix : undefined);
  return { ...page, items: page.items.filter(isLive) };
}

/**
 * One page of keys matching the query. Storage may hand back short or empty pages (partition
 * boundaries, index entries whose record is gone); the page is topped up from the following ones
 * within a bounded number of fetches, and the continuation says where the next page starts.
 */
export async function listRecoveryKeys(
  query: KeyQuery | undefined,
  pageSize: number,
  continuation?: string,
): Promise<store.Page<KeyMetadata>> {
  if (query?.kind === 'id') return { items: (await store.getHolders(query.id)).filter(isLive) };
  const items: KeyMetadata[] = [];
  let next = continuation;
  for (let fetches = 0; fetches < MAX_FETCHES_PER_PAGE && items.length < pageSize; fetches++) {
    const page = await fetchPage(query, pageSize - items.length, next);
    items.push(...page.items);
    next = page.continuation;
    if (next === undefined || page.cut) break;
  }
  return { items, continuation: next };
}
