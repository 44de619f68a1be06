import { randomBytes } from 'node:crypto';
import { settings } from '../config';
import { scanStatuses } from '../deviceStatus/store';
import type { DeviceStatus } from '../deviceStatus/model';
import type { InventoryDevice } from '../inventory/model';
import { countingRuns, scanInventory } from '../inventory/store';
import { type DeviceKeys, scanDeviceKeys } from '../recoveryKeys/deviceIndex';
import { getKey } from '../recoveryKeys/store';
import { type DeviceDisclosures, scanDisclosures } from './disclosures';
import { mergeByDevice } from './merge';
import { type CoverageReportHead, type CoverageRow, type CoverageSummary, emptySummary } from './model';
import { coverageOf } from './state';
import { type CoverageCheckpoint, clearCheckpoint, deleteReport, publish, readCheckpoint, saveCheckpoint, writeRows } from './store';

// Computing the coverage report: one pass over four tables, each read once in device-id order (the
// inventory, the statuses, the device index, the disclosure marks), merged device by device; rows are
// written a batch at a time and the checkpoint (the last device written, the counts so far) after each
// batch. Memory holds one batch. A run cut off resumes after the checkpoint's device: rows are upserts
// by device, so a batch written twice is counted once (its counts are in the checkpoint only after it).

/** Devices per batch: a transaction takes a hundred rows of one state. */
export const BATCH_DEVICES = 100;
export const DEFAULT_COVERAGE_BUDGET_MS = 4 * 60_000;

export interface CoverageOptions {
  budgetMs?: number;
  now?: Date;
  report?: (line: string) => void;
}

export interface CoverageResult {
  complete: boolean;
  /** The published report (when complete), or the one under way. */
  head: CoverageReportHead;
  devices: number;
}

const newReportId = (now: Date): string => `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;

function count(summary: CoverageSummary, row: CoverageRow | undefined): void {
  summary.devices++;
  if (!row) {
    summary.notEncrypted++;
    return;
  }
  summary[row.state]++;
  for (const flag of row.flags) summary[flag]++;
}

async function startOrResume(now: Date, report: (line: string) => void): Promise<CoverageCheckpoint> {
  const previous = await readCheckpoint();
  if (previous) {
    report(`coverage: resuming report ${previous.reportId} after ${previous.summary.devices} device(s)`);
    return previous;
  }
  const checkpoint = { reportId: newReportId(now), startedAt: now.toISOString(), after: '', summary: emptySummary() };
  await saveCheckpoint(checkpoint);
  return checkpoint;
}

/** One run: computes (or resumes) the report until done or the budget ends; publishes it when done. */
export async function computeCoverage(options: CoverageOptions = {}): Promise<CoverageResult> {
  const report = options.report ?? (() => undefined);
  const deadline = Date.now() + (options.budgetMs ?? DEFAULT_COVERAGE_BUDGET_MS);
  const { coverageStaleDays, rotationDueHours } = settings();
  const checkpoint = await startOrResume(options.now ?? new Date(), report);
  const rules = { now: options.now ?? new Date(checkpoint.startedAt), staleDays: coverageStaleDays, rotationDueHours };
  const runs = await countingRuns();
  const joined = mergeByDevice<{ inventory: InventoryDevice; status: DeviceStatus; keys: DeviceKeys; disclosures: DeviceDisclosures }>({
    inventory: scanInventory(runs, checkpoint.after),
    status: scanStatuses(checkpoint.after),
    keys: scanDeviceKeys(checkpoint.after, getKey),
    disclosures: scanDisclosures(checkpoint.after),
  });
  const summary = { ...checkpoint.summary };
  let batch: CoverageRow[] = [];
  let batchDevices = 0;
  let last = checkpoint.after;
  const flush = async (): Promise<void> => {
    await writeRows(checkpoint.reportId, batch);
    Object.assign(checkpoint, { after: last, summary: { ...summary } });
    await saveCheckpoint(checkpoint);
    [batch, batchDevices] = [[], 0];
  };
  let devices = 0;
  for await (const device of joined) {
    const row = coverageOf(
      {
        deviceId: device.deviceId,
        inventory: device.inventory,
        status: device.status,
        liveKeyIds: device.keys?.keyIds ?? [],
        disclosed: device.disclosures?.disclosed ?? new Map<string, string>(),
      },
      rules,
    );
    count(summary, row);
    if (row) batch.push(row);
    last = device.deviceId;
    devices++;
    if (++batchDevices >= BATCH_DEVICES) {
      await flush();
      if (Date.now() >= deadline) {
        report(`coverage: stopped at the time budget after ${summary.devices} device(s); the next run resumes there`);
        return { complete: false, head: { reportId: checkpoint.reportId, generatedDateTime: checkpoint.startedAt, summary }, devices };
      }
    }
  }
  await flush();
  const head = { reportId: checkpoint.reportId, generatedDateTime: new Date().toISOString(), summary };
  const retired = await publish(head);
  await clearCheckpoint();
  if (retired) await deleteReport(retired);
  return { complete: true, head, devices };
}
