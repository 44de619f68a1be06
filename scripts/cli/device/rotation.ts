import type { DeviceClient, DeviceResponse, EscrowedKey } from './client';
import { newProtector, type SimulatedDisk } from './disk';

// Rotation after a reveal, as the Windows client does it (clients/windows/KeyEscrow.ps1, Invoke-Rotation),
// on the reference client's simulated disk: for each disclosed key not yet superseded whose protector is
// on the disk, a new protector is added and escrowed with "@escrow.replaces", the service's list is read
// to confirm it holds the new key as the successor, and only then is the old protector removed and the
// old key deleted. A superseded key whose successor is on the disk is retired (a run cut short); one
// whose successor is not is left alone, so the last recovery password never goes.

export interface RotationResult {
  lines: string[];
  failed: boolean;
}

const refusal = (response: DeviceResponse): string => `${response.status} ${response.json.error?.message ?? ''}`.trim();

const accepted = (response: DeviceResponse): boolean => response.status === 200 || response.status === 201;

/** A 4xx other than 429: the service stored nothing, so the new protector can go again. */
const refusedOutright = (response: DeviceResponse): boolean => response.status >= 400 && response.status < 500 && response.status !== 429;

export async function rotateDisclosedKeys(
  client: DeviceClient,
  deviceId: string,
  disk: SimulatedDisk,
  keys: EscrowedKey[],
  save: () => Promise<void>,
): Promise<RotationResult> {
  const lines: string[] = [];
  let failed = false;
  const onDisk = (id: string): boolean => disk.protectors.some((p) => p.id === id);

  const retire = async (oldId: string, newId: string): Promise<void> => {
    const removed = onDisk(oldId);
    if (removed) {
      disk.protectors = disk.protectors.filter((p) => p.id !== oldId);
      await save();
    }
    const deleted = await client.deleteKey(oldId);
    // 404: retired already (an answer lost on the way).
    const retired = deleted.status === 204 || deleted.status === 200 || deleted.status === 404;
    if (removed) lines.push(`Rotated key ${oldId} -> ${newId}`);
    else if (retired) lines.push(`Retired key ${oldId} (superseded by ${newId})`);
    if (!retired) {
      lines.push(`Delete of key ${oldId} refused: ${refusal(deleted)}; the next run retries it`);
      failed = true;
    }
  };

  for (const key of keys.filter((k) => k['@escrow.disclosedDateTime'])) {
    const successor = key['@escrow.supersededBy'];
    if (successor) {
      if (onDisk(successor)) await retire(key.id, successor);
      continue;
    }
    if (!onDisk(key.id)) continue;
    const fresh = newProtector();
    disk.protectors.push(fresh);
    await save();
    const escrowed = await client.escrow({
      id: fresh.id,
      deviceId,
      volumeType: key.volumeType,
      key: fresh.key,
      '@escrow.replaces': key.id,
    });
    if (!accepted(escrowed)) {
      if (refusedOutright(escrowed)) {
        disk.protectors = disk.protectors.filter((p) => p.id !== fresh.id);
        await save();
      }
      lines.push(`Rotation of key ${key.id} refused: ${refusal(escrowed)}`);
      failed = true;
      continue;
    }
    const listed = await client.listOwnKeys(deviceId);
    const old = listed.keys.find((k) => k.id === key.id);
    const confirmed =
      listed.status === 200 && listed.keys.some((k) => k.id === fresh.id) && (!old || old['@escrow.supersededBy'] === fresh.id);
    if (!confirmed) {
      lines.push(`Rotation of key ${key.id} not confirmed: the service does not list ${fresh.id} as its successor`);
      failed = true;
      continue;
    }
    await retire(key.id, fresh.id);
  }
  return { lines, failed };
}
