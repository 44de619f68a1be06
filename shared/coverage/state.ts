import { type DeviceStatus, reportedKeyIds, reportsEncryption } from '../deviceStatus/model';
import { displayNameOf, encryptedPerIntune, type InventoryDevice, ownerOf } from '../inventory/model';
import { type CoverageFlag, type CoverageRow, NEAR_KEY_LIMIT } from './model';

// One device's coverage from what is known of it: a pure function of the inventory's view, its last
// status, its live escrowed keys and its disclosure marks (shared/coverage/model.ts says what each state means).

export interface DeviceFacts {
  deviceId: string;
  inventory?: InventoryDevice;
  status?: DeviceStatus;
  liveKeyIds: readonly string[];
  /** Key id → when its password was disclosed (ISO 8601). */
  disclosed: ReadonlyMap<string, string>;
}

export interface CoverageRules {
  now: Date;
  staleDays: number;
  rotationDueHours: number;
}

/** A device's row, or undefined for a device with nothing to unlock (counted as notEncrypted, not listed). */
export function coverageOf(facts: DeviceFacts, rules: CoverageRules): CoverageRow | undefined {
  const { status, inventory } = facts;
  const live = new Set(facts.liveKeyIds);
  const reported = status ? reportedKeyIds(status) : [];
  const reportedSet = new Set(reported);
  const missingKeyIds = reported.filter((id) => !live.has(id));
  const staleKeyIds = status ? [...live].filter((id) => !reportedSet.has(id)).sort() : [];
  const now = rules.now.getTime();
  const overdueKeyIds = [...facts.disclosed]
    .filter(([id, at]) => {
      if (now - Date.parse(at) <= rules.rotationDueHours * 3_600_000) return false;
      // Superseded: a status sent after the disclosure no longer reports the key.
      const reportedSince = status !== undefined && status.lastReportedDateTime > at;
      return reportedSince ? reportedSet.has(id) : live.has(id);
    })
    .map(([id]) => id)
    .sort();
  const encrypted = (inventory !== undefined && encryptedPerIntune(inventory)) || (status !== undefined && reportsEncryption(status));
  const saysNotEncrypted =
    (status !== undefined && !reportsEncryption(status)) || (inventory?.intune.length ?? 0) > 0;
  const fresh = status !== undefined && now - Date.parse(status.lastReportedDateTime) <= rules.staleDays * 86_400_000;

  let state: CoverageRow['state'];
  if (overdueKeyIds.length > 0) state = 'rotationOverdue';
  else if (encrypted && live.size === 0) state = 'noKeys';
  else if (missingKeyIds.length > 0) state = 'missingKey';
  else if (!encrypted && live.size === 0 && saysNotEncrypted) return undefined;
  else if (!fresh) state = 'noReport';
  else state = 'covered';

  const flags: CoverageFlag[] = [];
  if (staleKeyIds.length > 0) flags.push('staleKeys');
  if (live.size >= NEAR_KEY_LIMIT) flags.push('nearKeyLimit');
  const displayName = inventory && displayNameOf(inventory);
  const userPrincipalName = inventory && ownerOf(inventory);
  return {
    deviceId: facts.deviceId,
    ...(displayName !== undefined && { displayName }),
    ...(userPrincipalName !== undefined && { userPrincipalName }),
    state,
    flags,
    ...(status && { lastReportedDateTime: status.lastReportedDateTime }),
    liveKeyCount: live.size,
    missingKeyIds,
    staleKeyIds,
    overdueKeyIds,
  };
}
