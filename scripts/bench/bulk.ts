// The bulk rows of the bench: `npm run import` of a file of BENCH_BULK_KEYS new keys, then of the same
// file again (every key found stored), and the Entra mirror of a tenant of as many keys, then again over
// the unchanged tenant. Each runs in this process, as the commands run it (the same functions), against
// the bench's Azurite: keys per second, storage requests per key (counted on the wire: storageCounter.ts),
// and the process's memory while it runs, sampled, against what it held before (the runs stream: that
// peak should not follow the number of keys).

import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { newId, recoveryPassword } from './fixtures';
import { startGraphTenant } from './graphTenant';
import { now, round } from './measure';
import type { StorageMonitor } from './storageCounter';

export interface BulkResult {
  job: string;
  keys: number;
  seconds: number;
  keysPerSec: number;
  /** Storage requests per key, in total and by method and table. */
  requestsPerKey: number;
  detail: Record<string, number>;
  /** The process's V8 heap in use before the run, and its peak during it (MiB, sampled every 50 ms). */
  heapBeforeMiB: number;
  heapPeakMiB: number;
  rssPeakMiB: number;
  /** Why the job stopped before its end (its figures are then of the part done), if it did. */
  failed?: string;
}

const MIB = 2 ** 20;

/** Samples this process's memory until stopped: the peaks of the heap in use and of the resident set. */
function memorySampler(): { stop(): { heapBeforeMiB: number; heapPeakMiB: number; rssPeakMiB: number } } {
  const before = process.memoryUsage().heapUsed;
  let heap = before;
  let rss = process.memoryUsage().rss;
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    heap = Math.max(heap, usage.heapUsed);
    rss = Math.max(rss, usage.rss);
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return { heapBeforeMiB: round(before / MIB, 1), heapPeakMiB: round(heap / MIB, 1), rssPeakMiB: round(rss / MIB, 1) };
    },
  };
}

async function measured(job: string, keys: number, monitor: StorageMonitor, run: () => Promise<void>): Promise<BulkResult> {
  const memory = memorySampler();
  monitor.measuring(job);
  const started = now();
  let failed: string | undefined;
  try {
    await run();
  } catch (error) {
    // One job's failure (storage too slow to answer on a loaded machine) is reported with the others' figures.
    failed = error instanceof Error ? error.message : String(error);
  } finally {
    monitor.measuring(undefined);
  }
  const seconds = (now() - started) / 1000;
  const requests = monitor.perOp(job, keys);
  return {
    job,
    keys,
    seconds: round(seconds, 1),
    keysPerSec: round(keys / seconds, 1),
    requestsPerKey: requests.total,
    detail: requests.detail,
    ...memory.stop(),
    ...(failed !== undefined && { failed }),
  };
}

/** A CSV of `count` new keys, written a row at a time (this process never holds the file). */
async function writeKeyFile(path: string, count: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('id,deviceId,key,volumeType,createdDateTime\n');
  for (let i = 0; i < count; i++) {
    if (!out.write(`${newId()},${newId()},${recoveryPassword()},1,2024-03-01T08:30:00Z\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** A token for the tenant stand-in: unsigned, with the claims the mirror names itself by in the audit trail. */
function benchCredential(): TokenCredential {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { oid: randomUUID(), appid: randomUUID(), tid: randomUUID(), roles: ['BitLockerKey.Read.All'] };
  const token = `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
  return { getToken: (): Promise<AccessToken> => Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

/** The four bulk rows, `keys` keys each; progress lines go to `log` every few seconds. */
export async function measureBulk(
  keys: number,
  stateDir: string,
  monitor: StorageMonitor,
  log: (line: string) => void,
): Promise<BulkResult[]> {
  const results: BulkResult[] = [];
  const { importKeyFile } = await import('../cli/import');
  const file = join(stateDir, 'bulk-keys.csv');
  await writeKeyFile(file, keys);
  for (const job of ['import: new keys', 'import: the same file again']) {
    results.push(
      await measured(job, keys, monitor, async () => {
        const { counts } = await importKeyFile(file, { progressEveryMs: 5_000, report: log });
        if (counts.failed + counts.invalid + counts.conflicts > 0) throw new Error(`${job}: ${JSON.stringify(counts)}`);
      }),
    );
  }

  const tenant = await startGraphTenant(keys, 500);
  try {
    process.env.GRAPH_BASE_URL = tenant.url;
    const { resetSettings } = await import('../../shared/config');
    resetSettings();
    const { runEntraMirror } = await import('../../shared/entraMirror/mirror');
    const credential = benchCredential();
    for (const job of ['mirror: new keys', 'mirror: the same tenant again']) {
      results.push(
        await measured(job, keys, monitor, async () => {
          const result = await runEntraMirror({ credential, budgetMs: 24 * 3_600_000, progressEveryMs: 5_000, report: log });
          if (!result.complete || result.counts.failed + result.counts.conflicts > 0) throw new Error(`${job}: ${result.summary}`);
        }),
      );
    }
    log(`mirror: ${tenant.keyReads()} key reads from the tenant for ${keys} keys over two runs`);
  } finally {
    await tenant.close();
  }
  return results;
}
