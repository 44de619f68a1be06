// `npm run bench`: the service against the floor (docs/benchmark.md), side by side in one run.
//
// One in-memory Azurite (started here, on a free port of 127.0.0.1, telemetry off). In this process:
// the floor server (floor.ts: exactly one storage request per HTTP request, the app's client
// settings) and the compiled app on the local host (service.ts), both called over HTTP by one
// keep-alive client. Rows (rows.ts) are interleaved in rounds so that machine noise falls on all of
// them alike; every storage request is counted on the wire (storageCounter.ts). Cold load of the app
// against the bare library runs first, in fresh processes, while nothing else of ours runs.
// Results go to bench-results/latest.json; the report (report.ts) to stdout; progress to stderr.
// Knobs: knobs.ts. Targets: targets.ts.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEV_ACCOUNT_NAME, startAzuriteTables, type RunningAzurite } from '../devhost/azurite';
import { measureBulk } from './bulk';
import { measureColdLoad } from './coldLoad';
import { startBenchWebhook } from './alertWebhook';
import { startFloorServer } from './floor';
import { propertiesOf } from './fixtures';
import { BenchHttpClient } from './httpClient';
import { readKnobs } from './knobs';
import { concurrentRounds, now, round, serialRounds, type Summary } from './measure';
import { renderReport } from './report';
import type { Results, RowResult } from './results';
import { REVEAL_ALERTED, rows as benchRows, storeKeys, THROUGHPUT_ROWS } from './rows';
import { startService } from './service';
import { StorageMonitor } from './storageCounter';
import { COLD_APP, COLD_APP_UNBUNDLED, COLD_LIBRARY, evaluateTargets } from './targets';
import { expandMainPattern } from '../devhost/host/appLoader';
import { RECORD_ROW, TABLES } from '../../shared/storage/layout';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS_FILE = path.join(ROOT, 'bench-results', 'latest.json');
const KEYS_TABLE = TABLES.recoveryKeys;

const log = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);
const rounded = (s: Summary): Summary => ({ n: s.n, p50: round(s.p50), p95: round(s.p95), p99: round(s.p99), mean: round(s.mean) });

function machineInfo(): Results['machine'] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
  };
}

function commitOf(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** What the Functions worker loads: the files package.json `main` names (dist/app/main.js, the bundle). */
function appFiles(): string[] {
  const { main } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string };
  return expandMainPattern(ROOT, main);
}

/** The app as tsc compiles it, unbundled: every dist/functions/*.js, what `main` named before the bundle. */
const unbundledAppFiles = (): string[] => expandMainPattern(ROOT, 'dist/functions/*.js');

async function main(): Promise<void> {
  const started = now();
  const knobs = readKnobs();
  const machine = machineInfo();
  log(`${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}; knobs ${JSON.stringify(knobs)}`);
  const loadBefore = os.loadavg().map((l) => round(l, 2));
  if (loadBefore[0] > machine.cpus / 2)
    log(`the machine is busy (load average ${loadBefore[0]} on ${machine.cpus} cores): read the ratios, not the milliseconds`);

  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'escrow-bench-'));
  // Ctrl-C: exit through process.exit, whose 'exit' hooks kill the detached Azurite; drop the temp folder.
  process.once('exit', () => fs.rmSync(stateDir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  // Local mode: development signing and encryption keys under the temp folder. Key reads are
  // rate-limited per caller; the benchmark's one caller must not be the thing measured.
  const appEnv = { AUTH_MODE: 'local', LOCAL_STATE_DIR: stateDir, KEY_READ_LIMIT_PER_MINUTE: '1000000' };

  log(`cold load: ${knobs.coldRuns} runs per variant, interleaved`);
  const breakdownRuns = Math.ceil(knobs.coldRuns / 2);
  const cold = await measureColdLoad(
    ROOT,
    { ...process.env, ...appEnv, NODE_OPTIONS: '' },
    [
      { name: 'node (no require)', modules: [] },
      { name: COLD_LIBRARY, modules: [COLD_LIBRARY] },
      { name: COLD_APP, modules: appFiles() },
      { name: COLD_APP_UNBUNDLED, modules: unbundledAppFiles() },
      // Where the app's load time goes: its big dependencies, each on its own (they share some modules).
      { name: '@azure/data-tables', modules: ['@azure/data-tables'], runs: breakdownRuns },
      { name: 'joi', modules: ['joi'], runs: breakdownRuns },
      { name: 'jose', modules: ['jose'], runs: breakdownRuns },
    ],
    knobs.coldRuns,
  );

  let azurite: RunningAzurite | undefined;
  const closers: (() => Promise<void>)[] = [];
  const monitor = new StorageMonitor(`/${DEV_ACCOUNT_NAME}/`);
  try {
    azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
    log(`Azurite (in memory, telemetry off) on 127.0.0.1:${azurite.port}`);
    // Alerts on, as a mass recovery runs them: ALERT_ON=unusual with a threshold of one reveal an hour
    // makes every user read after the first an alerted one, while the app's own reads (the GET $select=key
    // row, app-only) stay unalerted and comparable with earlier runs. The limit counts but never refuses.
    const webhook = await startBenchWebhook();
    closers.push(() => webhook.close());
    const alertEnv = {
      ALERT_WEBHOOK_URL: webhook.url,
      ALERT_ON: 'unusual',
      ALERT_UNUSUAL_REVEALS_PER_HOUR: '1',
      ALERT_FAIL_CLOSED: 'true',
      REVEAL_LIMIT_PER_HOUR: '1000000',
    };
    Object.assign(process.env, appEnv, alertEnv, { STORAGE_CONNECTION_STRING: azurite.connectionString });

    const client = new BenchHttpClient(knobs.concurrency);
    closers.push(() => Promise.resolve(client.close()));
    const service = await startService(ROOT, stateDir, client);
    closers.push(() => service.close());
    log(`local host (this process) on ${service.url}`);
    log(`storing ${knobs.devices} devices x ${knobs.keysPerDevice} keys through the service`);
    const stored = await storeKeys(service, knobs.devices, knobs.keysPerDevice);

    const { TableClient } = await import('@azure/data-tables');
    const raw = TableClient.fromConnectionString(azurite.connectionString, KEYS_TABLE, { allowInsecureConnection: true });
    const record = propertiesOf(await raw.getEntity(stored.bodies[0].id, RECORD_ROW));
    log(`floor record, as the app stores one: ${Object.keys(record).join(', ')} (${JSON.stringify(record).length} bytes as JSON)`);
    const floor = await startFloorServer(KEYS_TABLE);
    closers.push(() => floor.close());
    log(`floor server on ${floor.url}`);

    const rows = benchRows(floor.url, client, service, stored, record);
    log(`serial: ${knobs.warmup} warm-up + ${knobs.ops} rounds of ${rows.length} rows, one operation at a time`);
    const serial = await serialRounds(rows, { warmup: knobs.warmup, ops: knobs.ops, monitor });
    const throughputRows = rows.filter((r) => THROUGHPUT_ROWS.includes(r.name));
    log(`concurrent: ${knobs.concurrency} workers, ${knobs.rounds} rounds x ${knobs.sliceMs} ms per row`);
    const concurrent = await concurrentRounds(throughputRows, {
      concurrency: knobs.concurrency,
      rounds: knobs.rounds,
      sliceMs: knobs.sliceMs,
      warmupMs: 200,
      monitor,
    });

    log(`bulk: import and Entra mirror of ${knobs.bulkKeys} keys each`);
    const bulk = await measureBulk(knobs.bulkKeys, stateDir, monitor, (line) => log(line));

    const results: RowResult[] = rows.map((row) => {
      const s = serial.get(row.name)!;
      const c = concurrent.get(row.name);
      return {
        name: row.name,
        side: row.side,
        floor: row.floor,
        serial: rounded(s.latency),
        storage: s.roundTrips,
        inStorageP50: round(s.inStorage.p50),
        outsideStorageP50: round(s.outsideStorage.p50),
        concurrent: c && {
          opsPerSec: round(c.opsPerSec, 1),
          ops: c.ops,
          seconds: round(c.seconds, 2),
          p50: round(c.latency.p50),
          p99: round(c.latency.p99),
          requestsPerOp: c.roundTrips.total,
        },
      };
    });
    for (const row of results) {
      const floorRow = results.find((r) => r.name === row.floor);
      if (!floorRow) continue;
      row.p50VsFloor = round(row.serial.p50 / floorRow.serial.p50, 2);
      if (row.concurrent && floorRow.concurrent)
        row.concurrent.vsFloor = round(row.concurrent.opsPerSec / floorRow.concurrent.opsPerSec, 2);
    }

    const report: Results = {
      date: new Date().toISOString(),
      commit: commitOf(),
      machine,
      loadAverage: { before: loadBefore, after: os.loadavg().map((l) => round(l, 2)) },
      knobs,
      azurite: (JSON.parse(fs.readFileSync(require.resolve('azurite/package.json'), 'utf8')) as { version: string }).version,
      rows: results,
      cold,
      bulk,
      targets: evaluateTargets(results, cold, knobs.concurrency),
      totalSeconds: round((now() - started) / 1000, 1),
    };
    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(renderReport(report));
    const reveals = results.find((row) => row.name === REVEAL_ALERTED)?.concurrent;
    if (reveals) log(`audited, alerted reveals: ${Math.round(reveals.opsPerSec * 60)} a minute (${webhook.taken()} alerts taken)`);
    log(`wrote ${path.relative(ROOT, RESULTS_FILE)}; total ${report.totalSeconds} s`);
  } finally {
    monitor.close();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await azurite?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
