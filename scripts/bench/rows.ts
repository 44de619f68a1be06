// The rows of the table: the floor server's two requests and the service's operations of the
// performance target table (docs/benchmark.md), each a Variant the interleaved runners can run, and the floor row it is compared with.

import { keyBody, newId, type KeyBody } from './fixtures';
import type { BenchHttpClient } from './httpClient';
import type { Variant } from './measure';
import { expectStatus, type Service } from './service';

export const FLOOR_WRITE = 'floor: one upsertEntity';
export const FLOOR_READ = 'floor: one getEntity';
export const PATCH_NEW = 'PATCH of a new key';
export const PATCH_REPEAT = 'PATCH repeating an escrowed key unchanged';
export const GET_KEY = 'GET $select=key';
export const REVEAL_ALERTED = 'GET $select=key by a user: hourly count, alert, audit';
export const GET_METADATA = 'GET one key, metadata';
export const LIST_DEVICE = "list a device's keys (one page)";

export interface Row extends Variant {
  side: 'floor' | 'service';
  /** The floor row this one is compared with (none for a floor row). */
  floor?: string;
}

/** Keys stored through the service for the rows that need stored keys: `devices` devices with `keysPerDevice` keys each. */
export interface StoredKeys {
  bodies: KeyBody[];
  deviceIds: string[];
}

export async function storeKeys(service: Service, devices: number, keysPerDevice: number): Promise<StoredKeys> {
  const deviceIds = Array.from({ length: devices }, () => newId());
  const bodies = deviceIds.flatMap((deviceId) => Array.from({ length: keysPerDevice }, () => keyBody({ deviceId })));
  for (const body of bodies) await service.patch(body);
  return { bodies, deviceIds };
}

/**
 * The rows. `record`: the properties of a record as the app stored it (same properties and sizes),
 * which the floor's write stores under a new id; the floor's read reads the service's stored keys.
 */
export function rows(
  floorUrl: string,
  client: BenchHttpClient,
  service: Service,
  stored: StoredKeys,
  record: Record<string, unknown>,
): Row[] {
  const recordJson = JSON.stringify(record);
  const pick = <T>(items: readonly T[], worker: number, seq: number): T => items[(worker * 7919 + seq) % items.length];
  return [
    {
      name: FLOOR_WRITE,
      side: 'floor',
      run: async () => {
        const answer = await client.request(
          'PUT',
          new URL(`/floor/${newId()}`, floorUrl),
          { 'content-type': 'application/json' },
          recordJson,
        );
        expectStatus('floor PUT', answer.status, answer.body, [204]);
      },
    },
    {
      name: FLOOR_READ,
      side: 'floor',
      run: async (w, s) => {
        const answer = await client.request('GET', new URL(`/floor/${pick(stored.bodies, w, s).id}`, floorUrl), {});
        expectStatus('floor GET', answer.status, answer.body);
      },
    },
    { name: PATCH_NEW, side: 'service', floor: FLOOR_WRITE, run: () => service.patch(keyBody()) },
    // What a device's daily check sends: the key it escrowed before, unchanged.
    { name: PATCH_REPEAT, side: 'service', floor: FLOOR_WRITE, run: (w, s) => service.patch(pick(stored.bodies, w, s)) },
    { name: GET_KEY, side: 'service', floor: FLOOR_READ, run: (w, s) => service.getKey(pick(stored.bodies, w, s).id) },
    // Mass recovery: helpdesk agents (one per worker) each reading keys, every read counted, alerted and audited.
    { name: REVEAL_ALERTED, side: 'service', floor: FLOOR_READ, run: (w, s) => service.revealAsUser(pick(stored.bodies, w, s).id, w) },
    { name: GET_METADATA, side: 'service', floor: FLOOR_READ, run: (w, s) => service.get(pick(stored.bodies, w, s).id) },
    {
      name: LIST_DEVICE,
      side: 'service',
      floor: FLOOR_READ,
      run: async (w, s) => {
        const keys = await service.listDevice(pick(stored.deviceIds, w, s));
        if (keys !== stored.bodies.length / stored.deviceIds.length) throw new Error(`list by device returned ${keys} keys`);
      },
    },
  ];
}

/** The throughput rows: the floor's write, the service's PATCH of a new key, and audited, alerted reveals (reveals a minute). */
export const THROUGHPUT_ROWS: readonly string[] = [FLOOR_WRITE, PATCH_NEW, FLOOR_READ, REVEAL_ALERTED];
