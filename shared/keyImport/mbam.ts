import { displayNameOf } from '../inventory/model';
import { countingRuns, scanInventory } from '../inventory/store';

// MBAM's recovery database, as MBAM knows it: computers by name, keys by RecoveryKeyId, times in SQL
// Server's format. Its export is read by csvKeys.ts with MBAM's column names; this maps a computer's
// name to the Entra device id the inventory has for it (docs/coverage.md has the query).

/** MBAM's column names (spaces and case ignored) and the key-file columns they fill. */
export const MBAM_COLUMNS: Readonly<Record<string, string>> = {
  machinename: 'computername',
  name: 'computername',
  computername: 'computername',
  recoverykeyid: 'id',
  recoverykey: 'key',
  lastupdatetime: 'createddatetime',
};

/** SQL Server's datetime as MBAM's database and SSMS export it (no zone: MBAM stores UTC). */
const SQL_DATE_TIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)$/;

/** `2019-03-14 10:22:33.123` as `2019-03-14T10:22:33.123Z`; anything else as it is. */
export function fromSqlDateTime(text: string): string {
  const match = SQL_DATE_TIME.exec(text);
  if (!match) return text;
  const time = match[2].length === 5 ? `${match[2]}:00` : match[2];
  // Edm.DateTimeOffset takes at most milliseconds; SQL's datetime2 has seven digits.
  return `${match[1]}T${time.replace(/(\.\d{3})\d+$/, '$1')}Z`;
}

/** A computer name as Entra ID and MBAM both write it: its host label, upper-case (NetBIOS names are). */
const nameKey = (name: string): string => name.trim().split('.')[0].toUpperCase();

export type DeviceIdOfName = (computerName: string) => { deviceId: string } | { problem: string };

/**
 * Entra device ids by computer name, from the inventory (one scan). A name the inventory does not have,
 * or has for more than one device, is a problem, never a guess.
 */
export async function deviceIdsByName(): Promise<DeviceIdOfName> {
  const ids = new Map<string, string[]>();
  for await (const device of scanInventory(await countingRuns())) {
    const name = displayNameOf(device);
    if (!name) continue;
    const key = nameKey(name);
    ids.set(key, [...(ids.get(key) ?? []), device.deviceId]);
  }
  return (computerName) => {
    const found = ids.get(nameKey(computerName)) ?? [];
    if (found.length === 1) return { deviceId: found[0] };
    return {
      problem:
        found.length === 0
          ? `computer ${nameKey(computerName)} is not in the device inventory (npm run inventory): no Entra device id for it`
          : `computer ${nameKey(computerName)} names ${found.length} devices in the inventory (${found.join(', ')}): not guessed`,
    };
  };
}
