import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recoveryPassword } from '../../bench/fixtures';

// The reference client's simulated disk: one OS volume and its recovery-password protectors, kept in
// <LOCAL_STATE_DIR>/device-disk.json, owner-only (it holds the passwords, as BitLocker's metadata does).
// The first run finds one protector on it, as a freshly encrypted disk has.

export interface Protector {
  id: string;
  key: string;
}

export interface SimulatedDisk {
  mountPoint: string;
  volumeType: 'operatingSystemVolume';
  protectors: Protector[];
}

const diskPath = (stateDir: string): string => join(stateDir, 'device-disk.json');

/** A new recovery-password protector: a random id and a valid 48-digit password. */
export const newProtector = (): Protector => ({ id: randomUUID(), key: recoveryPassword() });

export async function saveDisk(stateDir: string, disk: SimulatedDisk): Promise<void> {
  await writeFile(diskPath(stateDir), JSON.stringify(disk, null, 2), { mode: 0o600 });
}

/** A freshly encrypted disk: one recovery password. */
export const newDisk = (): SimulatedDisk => ({ mountPoint: 'C:', volumeType: 'operatingSystemVolume', protectors: [newProtector()] });

/** The disk saved under `stateDir`, or a new one with one protector (saved) on the first run. */
export async function loadDisk(stateDir: string): Promise<SimulatedDisk> {
  try {
    return JSON.parse(await readFile(diskPath(stateDir), 'utf8')) as SimulatedDisk;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const disk = newDisk();
  await saveDisk(stateDir, disk);
  return disk;
}
