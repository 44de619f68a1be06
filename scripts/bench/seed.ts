// Seeding many keys straight into the app's tables.
//
// The keys that lookups are measured on (the probe devices' keys) are stored through the app's own
// PATCH handler, so they are complete in every respect (sealed password, audit). The bulk around them
// are copies of a record the app itself wrote, each under a new key id and device id: the same
// properties and sizes, written directly. Their sealed passwords are bound to the original id and
// would not open, which is fine: nothing reads a filler through the app.
//
// RecoveryKeys has one partition per key (PartitionKey = key id), so its records cannot share a
// transaction: they go as concurrency-limited parallel upserts. RecoveryKeysByDevice has one
// partition per device, so a device's index entries go in one submitTransaction (at most 100 each).

import { randomInt } from 'node:crypto';
import type { TableClient, TableEntity, TransactionAction } from '@azure/data-tables';
import { indexEntity, newId } from './fixtures';
import { forEachLimited, now } from './measure';

/** Devices whose number of keys stays fixed while the tables grow: lookups are measured on them. */
export const PROBE_DEVICES = 50;
export const KEYS_PER_PROBE_DEVICE = 4;
const MAX_KEYS_PER_FILLER_DEVICE = 4; // a fleet's devices hold 1 to 4 keys (volumes, rotations)
const MAX_BATCH = 100;

export type RecordTemplate = TableEntity<Record<string, unknown>>;

/** A record as the app stored it, without what the service adds (etag, timestamp, odata metadata). */
export function templateOf(entity: Record<string, unknown>): RecordTemplate {
  const template: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity)) {
    if (name === 'etag' || name === 'timestamp' || name.startsWith('odata.')) continue;
    template[name] = value;
  }
  return template as RecordTemplate;
}

/** A copy of the app's record under another key id and device. */
export function recordLike(template: RecordTemplate, id: string, deviceId: string): RecordTemplate {
  return { ...template, partitionKey: id, deviceId };
}

export interface GrowthReport {
  keys: number;
  added: number;
  /** Of the added keys, those stored through the app (the probe devices' keys). */
  throughApp: number;
  ms: number;
  requests: number;
  keysPerSec: number;
}

export interface Probe {
  deviceId: string;
  id: string;
}

export class Fleet {
  private count: number;
  readonly probeDevices: string[] = [];
  readonly probeIds: string[] = [];

  constructor(
    private readonly records: TableClient,
    private readonly index: TableClient,
    private readonly template: RecordTemplate,
    /** Stores one key through the app (its PATCH handler). */
    private readonly storeThroughApp: (probe: Probe) => Promise<void>,
    private readonly concurrency: number,
    /** Keys already stored. */
    initial = 0,
  ) {
    this.count = initial;
  }

  get size(): number {
    return this.count;
  }

  /** Adds keys until `target` keys are stored (the probe devices' first, through the app). */
  async growTo(target: number, progress?: (done: number) => void): Promise<GrowthReport> {
    const start = now();
    const before = this.count;
    let throughApp = 0;
    const probes: Probe[] = [];
    while (this.probeDevices.length < PROBE_DEVICES && this.count + KEYS_PER_PROBE_DEVICE <= target) {
      const deviceId = newId();
      this.probeDevices.push(deviceId);
      for (let i = 0; i < KEYS_PER_PROBE_DEVICE; i++) probes.push({ deviceId, id: newId() });
      this.count += KEYS_PER_PROBE_DEVICE;
    }
    await forEachLimited(probes, 8, async (probe) => {
      await this.storeThroughApp(probe);
      this.probeIds.push(probe.id);
    });
    throughApp += probes.length;

    const work: (() => Promise<unknown>)[] = [];
    while (this.count < target) {
      const deviceId = newId();
      const ids = Array.from({ length: Math.min(randomInt(1, MAX_KEYS_PER_FILLER_DEVICE + 1), target - this.count) }, () => newId());
      this.count += ids.length;
      for (let i = 0; i < ids.length; i += MAX_BATCH) {
        const actions: TransactionAction[] = ids.slice(i, i + MAX_BATCH).map((id) => ['upsert', indexEntity(deviceId, id), 'Replace']);
        work.push(() => this.index.submitTransaction(actions));
      }
      for (const id of ids) work.push(() => this.records.upsertEntity(recordLike(this.template, id, deviceId), 'Replace'));
    }
    let done = 0;
    await forEachLimited(work, this.concurrency, async (task) => {
      await task();
      if (++done % 10_000 === 0) progress?.(done);
    });
    const ms = now() - start;
    const added = this.count - before;
    return { keys: this.count, added, throughApp, ms, requests: work.length, keysPerSec: added / (ms / 1000) };
  }

  randomProbeId(): string {
    return this.probeIds[randomInt(0, this.probeIds.length)]!;
  }

  randomProbeDevice(): string {
    return this.probeDevices[randomInt(0, this.probeDevices.length)]!;
  }
}
