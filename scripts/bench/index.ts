// `npm run bench`: what the service costs on top of the storage calls it makes.
//
// One in-memory Azurite (started here, on a free port of 127.0.0.1, telemetry off), measured side by
// side in one run: raw @azure/data-tables calls (the baseline), the handlers called in-process, the
// same over HTTP through the local host, cold load of the app against the bare library, and lookups as
// the tables grow. Variants are interleaved in rounds so that machine noise falls on all of them
// alike. Every request to storage is counted and timed on the wire (node:http diagnostics channels),
// whichever table or client it is for, and reported per operation.
//
// Order: cold load (nothing else running), then the lookup sweep (seeding up to each size), then the
// latency and throughput phases on the grown tables, where the raw baseline works on the same tables.
//
// Knobs (environment): BENCH_OPS (serial ops per variant, 300), BENCH_WARMUP (50), BENCH_CONCURRENCY (16),
// BENCH_ROUNDS x BENCH_SLICE_MS (concurrent time per variant, 4 x 500 ms), BENCH_SIZES (1000,10000,50000),
// BENCH_LOOKUP_OPS (200), BENCH_COLD_RUNS (10), BENCH_SEED_CONCURRENCY (32),
// BENCH_HOST (inprocess | child: the local host in this process, or dist/scripts/start.js as a child).
//
// App modules are loaded only after the environment points them at this run's Azurite.

import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TableClient } from '@azure/data-tables';
import type { HttpHandler, HttpResponseInit } from '@azure/functions';
import { DEV_ACCOUNT_NAME, startAzuriteTables, type RunningAzurite } from '../azurite';
import { installFunctionsCore, registerHook } from '../host/functionsCore';
import { measureColdLoad, type ColdResult } from './coldLoad';
import { keyBody, newId, indexEntity, recoveryPassword, type KeyBody } from './fixtures';
import { BenchHttpClient } from './httpClient';
import {
  concurrentRounds,
  forEachLimited,
  now,
  round,
  serialRounds,
  StorageMonitor,
  type RoundTrips,
  type Summary,
  type Variant,
} from './measure';
import { Fleet, KEYS_PER_PROBE_DEVICE, PROBE_DEVICES, recordLike, templateOf, type GrowthReport, type RecordTemplate } from './seed';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS_FILE = path.join(ROOT, 'bench-results', 'latest.json');

// The store's layout (README "Storage layout"): the raw baseline works on the same tables and rows.
const KEYS_TABLE = 'RecoveryKeys';
const DEVICE_INDEX_TABLE = 'RecoveryKeysByDevice';
const RECORD_ROW = 'recoveryKey';
const AUDIT_TABLE = 'AuditLog';

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`);
  return value;
}

const MIN_SIZE = PROBE_DEVICES * KEYS_PER_PROBE_DEVICE + 1;

const knobs = {
  ops: intEnv('BENCH_OPS', 300),
  warmup: intEnv('BENCH_WARMUP', 50),
  concurrency: intEnv('BENCH_CONCURRENCY', 16),
  rounds: intEnv('BENCH_ROUNDS', 4),
  sliceMs: intEnv('BENCH_SLICE_MS', 500),
  sizes: (process.env.BENCH_SIZES?.trim() || '1000,10000,50000').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < MIN_SIZE) throw new Error(`BENCH_SIZES: each size must be a whole number of at least ${MIN_SIZE}`);
    return n;
  }),
  lookupOps: intEnv('BENCH_LOOKUP_OPS', 200),
  coldRuns: intEnv('BENCH_COLD_RUNS', 10),
  seedConcurrency: intEnv('BENCH_SEED_CONCURRENCY', 32),
  host: (process.env.BENCH_HOST?.trim() || 'inprocess') as 'inprocess' | 'child',
};
if (knobs.host !== 'inprocess' && knobs.host !== 'child') throw new Error("BENCH_HOST must be 'inprocess' or 'child'");
knobs.sizes.sort((a, b) => a - b);

const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

const WRITE = ['BitLockerKey.ReadWrite.All'];
const READ = ['BitLockerKey.Read.All'];

// ---------------------------------------------------------------------------------------------
// Results

type Group = 'raw' | 'replay' | 'what-if' | 'handler' | 'http';

interface BenchVariant extends Variant {
  group: Group;
  /** The raw variant this one is compared with. */
  baseline?: string;
}

interface Row {
  name: string;
  group: Group;
  baseline?: string;
  serial: Summary;
  concurrent: { opsPerSec: number; ops: number; seconds: number; p50: number; p99: number; requestsPerOp?: number };
  /** Serial, per operation: storage requests (and how many of them one after another), by method and table. */
  storage?: RoundTrips;
  /** Serial p50s: wall time with a storage request in flight, and the rest (app, SDK, HTTP hop). */
  inStorageP50?: number;
  outsideStorageP50?: number;
  p50VsBaseline?: number;
  opsPerSecVsBaseline?: number;
}

interface LookupResult {
  size: number;
  name: string;
  serial: Summary;
  storage: RoundTrips;
  inStorageP50: number;
  outsideStorageP50: number;
}

interface Target {
  target: string;
  subject: string;
  value: number;
  limit: number;
  met: boolean;
  note?: string;
}

interface Results {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; platform: string; node: string };
  loadAverage: { before: number[]; after: number[] };
  knobs: typeof knobs;
  hostMode: string;
  azurite: string;
  rows: Row[];
  cold: ColdResult[];
  growth: GrowthReport[];
  lookups: LookupResult[];
  auditLogRows: { beforeLatencyPhases: number; after: number };
  totalSeconds: number;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function expectStatus(what: string, status: number | undefined, body: unknown, expected = 200): void {
  if (status !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${status}: ${typeof body === 'string' ? body.slice(0, 300) : String(body)}`);
  }
}

/** A pool of stored keys, split so that concurrent workers never write the same key (no ETag races). */
class KeyPool<T> {
  constructor(
    readonly items: T[],
    private readonly perWorker: number,
  ) {}
  pick(worker: number, seq: number): T {
    return this.items[(worker * this.perWorker + (seq % this.perWorker)) % this.items.length]!;
  }
}

const ignore404 = (error: { statusCode?: number }): void => {
  if (error.statusCode !== 404) throw error;
};

const roundSummary = (s: Summary): Summary => ({ n: s.n, p50: round(s.p50), p95: round(s.p95), p99: round(s.p99), mean: round(s.mean) });

function azuriteVersion(): string {
  return (JSON.parse(fs.readFileSync(require.resolve('azurite/package.json'), 'utf8')) as { version: string }).version;
}

/** What the Functions worker loads: every file matching package.json `main` (dist/functions/*.js). */
function appFiles(): string[] {
  return fs
    .readdirSync(path.join(ROOT, 'dist', 'functions'))
    .filter((file) => file.endsWith('.js'))
    .sort()
    .map((file) => `./dist/functions/${file}`);
}

interface ChildHost {
  url: string;
  close(): Promise<void>;
}

function startChildHost(env: NodeJS.ProcessEnv): Promise<ChildHost> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'start.js')], {
    env: { ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the local host did not start:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      resolve({
        url: match[1]!,
        close: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume(); // one log line per request: drained, not shown
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local host exited with ${code}:\n${output}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = now();
  const cpus = os.cpus();
  const machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
  };
  log(`${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}; knobs ${JSON.stringify(knobs)}`);
  const loadBefore = os.loadavg().map((l) => round(l, 2));
  if (loadBefore[0]! > machine.cpus / 2) {
    log(`warning: the machine is busy (load average ${loadBefore[0]} on ${machine.cpus} cores); absolute figures will be noisy`);
  }

  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'escrow-bench-'));
  // Ctrl-C: exit through process.exit, whose 'exit' hooks kill the detached Azurite; drop the temp folder.
  process.once('exit', () => fs.rmSync(stateDir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  // Local mode: development signing and encryption keys are made under the temp folder. Key reads are
  // rate-limited per caller in the app; the benchmark's one caller must not be the thing measured.
  const appEnv = { AUTH_MODE: 'local', LOCAL_STATE_DIR: stateDir, KEY_READ_LIMIT_PER_MINUTE: '1000000' };

  // 4. Cold load first, while nothing else of ours runs.
  log(`cold load: ${knobs.coldRuns} runs per variant, interleaved`);
  const breakdownRuns = Math.ceil(knobs.coldRuns / 2);
  const cold = await measureColdLoad(
    ROOT,
    { ...process.env, ...appEnv, NODE_OPTIONS: '' },
    [
      { name: 'node (no require)', modules: [] },
      { name: '@azure/functions', modules: ['@azure/functions'] },
      { name: 'app: dist/functions/recoveryKeys.js', modules: ['./dist/functions/recoveryKeys.js'] },
      { name: 'app: every dist/functions/*.js', modules: appFiles() },
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
    Object.assign(process.env, appEnv, { STORAGE_CONNECTION_STRING: azurite.connectionString });

    // The Functions worker provides @azure/functions-core before the app loads; so do we. The local
    // host's per-request log line is formatted but not written (a log hook drops it), as the
    // in-process handlers' no-op log handler does.
    installFunctionsCore();
    registerHook('log', (context) => {
      (context as unknown as { level: string }).level = 'none';
    });
    const { HttpRequest, InvocationContext } = await import('@azure/functions');
    const { TableClient } = await import('@azure/data-tables');
    const { collectionHandler, itemHandler } = await import('../../functions/recoveryKeys');
    const { mintDevelopmentToken } = await import('../../shared/auth/developmentToken');

    const writeToken = `Bearer ${await mintDevelopmentToken(stateDir, { roles: WRITE })}`;
    const readToken = `Bearer ${await mintDevelopmentToken(stateDir, { roles: READ })}`;

    // 3. The local host.
    let hostUrl: string;
    if (knobs.host === 'inprocess') {
      const { startHost } = await import('../host/server');
      const host = await startHost({ port: 0, projectRoot: ROOT });
      closers.push(() => host.close());
      hostUrl = host.url;
    } else {
      const host = await startChildHost(process.env);
      closers.push(() => host.close());
      hostUrl = host.url;
    }
    log(`local host (${knobs.host === 'inprocess' ? 'in this process' : 'child process dist/scripts/start.js'}) on ${hostUrl}`);
    const client = new BenchHttpClient(knobs.concurrency);
    closers.push(async () => client.close());

    // --- the handlers, called in-process as the worker calls them --------------------------------
    const BASE = 'http://127.0.0.1:7071';
    const invoke = async (handler: HttpHandler, method: string, pathAndQuery: string, token: string, body?: unknown, id?: string): Promise<HttpResponseInit> => {
      const request = new HttpRequest({
        method,
        url: BASE + pathAndQuery,
        headers: body === undefined ? { authorization: token } : { authorization: token, 'content-type': 'application/json' },
        params: id === undefined ? {} : { id },
        body: body === undefined ? undefined : { string: JSON.stringify(body) },
      });
      const context = new InvocationContext({ invocationId: randomUUID(), functionName: 'bench', logHandler: () => {} });
      return (await handler(request, context)) as HttpResponseInit;
    };
    const handlerPatch = async (body: KeyBody): Promise<void> => {
      const response = await invoke(collectionHandler, 'PATCH', '/v1.0/bitlocker/recoveryKeys', writeToken, body);
      expectStatus('handler PATCH', response.status, response.body);
    };
    const handlerGetKey = async (id: string): Promise<void> => {
      const response = await invoke(itemHandler, 'GET', `/v1.0/bitlocker/recoveryKeys/${id}?$select=key`, readToken, undefined, id);
      expectStatus('handler GET $select=key', response.status, response.body);
    };

    // --- over HTTP ---------------------------------------------------------------------------
    const collectionUrl = new URL('/v1.0/bitlocker/recoveryKeys', hostUrl);
    const httpPatch = async (body: KeyBody): Promise<void> => {
      const answer = await client.request('PATCH', collectionUrl, { authorization: writeToken, 'content-type': 'application/json' }, JSON.stringify(body));
      expectStatus('HTTP PATCH', answer.status, answer.body);
    };
    const httpGetKey = async (id: string): Promise<void> => {
      const answer = await client.request('GET', new URL(`/v1.0/bitlocker/recoveryKeys/${id}?$select=key`, hostUrl), { authorization: readToken });
      expectStatus('HTTP GET $select=key', answer.status, answer.body);
    };

    // --- raw clients on the app's own tables, and a record exactly as the app stores one ----------
    const rawClient = async (table: string): Promise<TableClient> => {
      const raw = TableClient.fromConnectionString(azurite!.connectionString, table, { allowInsecureConnection: true });
      await raw.createTable();
      return raw;
    };
    const templateBody = keyBody();
    await handlerPatch(templateBody);
    const rawRecords = await rawClient(KEYS_TABLE);
    const rawIndex = await rawClient(DEVICE_INDEX_TABLE);
    const template: RecordTemplate = templateOf(await rawRecords.getEntity(templateBody.id, RECORD_ROW));
    log(`record shape, as the app stores it: ${Object.keys(template).join(', ')} (${JSON.stringify(template).length} bytes as JSON)`);
    // The other rows a write stores (README "Audit trail"): the audit twin in the key's partition and
    // the AuditLog entry, both as the app wrote them for the key above (a stand-in of similar size if
    // the layout has changed), for the raw replays of the app's request patterns.
    const otherRows: RecordTemplate[] = [];
    for await (const row of rawRecords.listEntities({ queryOptions: { filter: `PartitionKey eq '${templateBody.id}'` } })) {
      if (row.rowKey !== RECORD_ROW) otherRows.push(templateOf(row));
    }
    const twinTemplate: RecordTemplate = otherRows[0] ?? { partitionKey: '', rowKey: 'audit-0', eventId: newId() };
    const rawAudit = await rawClient(AUDIT_TABLE);
    let auditTemplate: RecordTemplate = { ...template, partitionKey: '', rowKey: '' };
    for await (const row of rawAudit.listEntities()) {
      auditTemplate = templateOf(row);
      break;
    }

    // 5. Lookups as the tables grow.
    const fleet = new Fleet(
      rawRecords,
      rawIndex,
      template,
      (probe) => handlerPatch(keyBody({ id: probe.id, deviceId: probe.deviceId })),
      knobs.seedConcurrency,
      1, // the template's key
    );
    const lookups: LookupResult[] = [];
    const growth: GrowthReport[] = [];
    for (const size of knobs.sizes) {
      log(`seeding to ${size} keys`);
      const report = await fleet.growTo(size, (done) => log(`  ${done} requests done`));
      growth.push({ ...report, ms: round(report.ms, 0), keysPerSec: round(report.keysPerSec, 0) });
      log(`  +${report.added} keys in ${(report.ms / 1000).toFixed(1)} s (${Math.round(report.keysPerSec)} keys/s, ${report.requests} direct requests)`);
      const lookupVariants: BenchVariant[] = [
        { name: 'raw getEntity', group: 'raw', run: async () => void (await rawRecords.getEntity(fleet.randomProbeId(), RECORD_ROW)) },
        {
          name: 'handler GET by id',
          group: 'handler',
          baseline: 'raw getEntity',
          run: async () => {
            const id = fleet.randomProbeId();
            const response = await invoke(itemHandler, 'GET', `/v1.0/bitlocker/recoveryKeys/${id}`, readToken, undefined, id);
            expectStatus('handler GET by id', response.status, response.body);
          },
        },
        {
          name: 'raw query PartitionKey eq device (index)',
          group: 'raw',
          run: async () => {
            const pages = rawIndex
              .listEntities({ queryOptions: { filter: `PartitionKey eq '${fleet.randomProbeDevice()}'`, select: ['RowKey'] } })
              .byPage({ maxPageSize: 100 });
            const page = (await pages.next()).value as unknown[];
            if (page.length !== KEYS_PER_PROBE_DEVICE) throw new Error(`raw device query returned ${page.length} entries`);
          },
        },
        {
          name: 'handler GET $filter=deviceId eq',
          group: 'handler',
          baseline: 'raw query PartitionKey eq device (index)',
          run: async () => {
            const filter = encodeURIComponent(`deviceId eq '${fleet.randomProbeDevice()}'`);
            const response = await invoke(collectionHandler, 'GET', `/v1.0/bitlocker/recoveryKeys?$filter=${filter}`, readToken);
            expectStatus('handler list by device', response.status, response.body);
            const count = (JSON.parse(String(response.body)) as { value: unknown[] }).value.length;
            if (count !== KEYS_PER_PROBE_DEVICE) throw new Error(`list by device returned ${count} keys`);
          },
        },
      ];
      const results = await serialRounds(lookupVariants, { warmup: 20, ops: knobs.lookupOps, monitor });
      for (const v of lookupVariants) {
        const r = results.get(v.name)!;
        lookups.push({
          size,
          name: v.name,
          serial: roundSummary(r.latency),
          storage: r.roundTrips,
          inStorageP50: round(r.inStorage.p50),
          outsideStorageP50: round(r.outsideStorage.p50),
        });
      }
    }

    // 1-3. Latency and throughput, on the grown tables; the raw baseline uses the same tables.
    log('latency phases: storing the key pools');
    const POOL_PER_WORKER = 4;
    const poolSize = knobs.concurrency * POOL_PER_WORKER;
    const makePool = async (store: (body: KeyBody) => Promise<void>): Promise<KeyPool<KeyBody>> => {
      const bodies = Array.from({ length: poolSize }, () => keyBody());
      await forEachLimited(bodies, 8, store);
      return new KeyPool(bodies, POOL_PER_WORKER);
    };
    const handlerUpdatePool = await makePool(handlerPatch);
    const handlerRepeatPool = await makePool(handlerPatch);
    const handlerReadPool = await makePool(handlerPatch);
    const httpUpdatePool = await makePool(httpPatch);
    const httpReadPool = await makePool(httpPatch);
    const rawIds = Array.from({ length: poolSize }, () => newId());
    await forEachLimited(rawIds, 8, async (id) => void (await rawRecords.upsertEntity(recordLike(template, id, newId()), 'Replace')));
    const rawPool = new KeyPool(rawIds, POOL_PER_WORKER);

    const changed = (body: KeyBody): KeyBody => ({ ...body, key: recoveryPassword() });
    const getAbsent = (): Promise<void> => rawRecords.getEntity(newId(), RECORD_ROW).then(() => undefined, ignore404);
    const getStored = async (w: number, s: number): Promise<string> => (await rawRecords.getEntity(rawPool.pick(w, s), RECORD_ROW)).etag;
    const upsertNew = async (): Promise<void> => void (await rawRecords.upsertEntity(recordLike(template, newId(), newId()), 'Replace'));
    const upsertIndex = async (): Promise<void> => void (await rawIndex.upsertEntity(indexEntity(newId(), newId()), 'Replace'));
    const upsertAudit = async (): Promise<void> =>
      void (await rawAudit.upsertEntity({ ...auditTemplate, partitionKey: auditTemplate.partitionKey || '0', rowKey: newId() }, 'Replace'));
    const twin = (id: string): RecordTemplate => ({ ...twinTemplate, partitionKey: id, rowKey: `audit-${newId()}` });
    const createWithTwin = async (): Promise<void> => {
      const id = newId();
      await rawRecords.submitTransaction([
        ['create', recordLike(template, id, newId())],
        ['create', twin(id)],
      ]);
    };
    const updateWithTwin = async (w: number, s: number, etag: string): Promise<void> => {
      const id = rawPool.pick(w, s);
      await rawRecords.submitTransaction([
        ['update', recordLike(template, id, newId()), 'Replace', { etag }],
        ['create', twin(id)],
      ]);
    };

    const RAW_UPSERT = 'raw upsertEntity (new key)';
    const RAW_GET = 'raw getEntity';
    const variants: BenchVariant[] = [
      { name: RAW_UPSERT, group: 'raw', run: upsertNew },
      { name: RAW_GET, group: 'raw', run: async (w, s) => void (await getStored(w, s)) },
      { name: 'raw getEntity, absent (404)', group: 'raw', baseline: RAW_GET, run: getAbsent },
      { name: 'raw $batch: create record + audit twin', group: 'raw', baseline: RAW_UPSERT, run: createWithTwin },
      // Every audited operation writes into one AuditLog partition per day; Azurite's point writes cost
      // O(rows in the partition), so this one grows slower as the run goes on (see README "Benchmark").
      { name: "raw upsertEntity (AuditLog, today's partition)", group: 'raw', baseline: RAW_UPSERT, run: upsertAudit },
      // The app's storage requests for an operation, replayed with raw calls in the same order and
      // overlap (see the request counts): what the operation would cost with no code of ours around it.
      {
        name: 'PATCH new key: get 404 > (index | audit) > $batch',
        group: 'replay',
        baseline: RAW_UPSERT,
        run: async () => {
          await getAbsent();
          await Promise.all([upsertIndex(), upsertAudit()]);
          await createWithTwin();
        },
      },
      {
        name: 'PATCH changed key: get > audit > $batch',
        group: 'replay',
        baseline: RAW_UPSERT,
        run: async (w, s) => {
          const etag = await getStored(w, s);
          await upsertAudit();
          await updateWithTwin(w, s, etag);
        },
      },
      {
        name: 'GET $select=key: get > audit',
        group: 'replay',
        baseline: RAW_GET,
        run: async (w, s) => {
          await getStored(w, s);
          await upsertAudit();
        },
      },
      // The same requests with fewer of them one after another: what reordering the app's writes would give.
      {
        name: 'PATCH new key: (get 404 | index | audit) > $batch',
        group: 'what-if',
        baseline: RAW_UPSERT,
        run: async () => {
          await Promise.all([getAbsent(), upsertIndex(), upsertAudit()]);
          await createWithTwin();
        },
      },
      {
        name: 'GET $select=key: (get | audit)',
        group: 'what-if',
        baseline: RAW_GET,
        run: async (w, s) => {
          await Promise.all([getStored(w, s), upsertAudit()]);
        },
      },
      { name: 'handler PATCH new key', group: 'handler', baseline: RAW_UPSERT, run: () => handlerPatch(keyBody()) },
      { name: 'handler PATCH changed key', group: 'handler', baseline: RAW_UPSERT, run: (w, s) => handlerPatch(changed(handlerUpdatePool.pick(w, s))) },
      { name: 'handler PATCH identical repeat', group: 'handler', baseline: RAW_UPSERT, run: (w, s) => handlerPatch(handlerRepeatPool.pick(w, s)) },
      { name: 'handler GET $select=key', group: 'handler', baseline: RAW_GET, run: (w, s) => handlerGetKey(handlerReadPool.pick(w, s).id) },
      { name: 'HTTP PATCH new key', group: 'http', baseline: RAW_UPSERT, run: () => httpPatch(keyBody()) },
      { name: 'HTTP PATCH changed key', group: 'http', baseline: RAW_UPSERT, run: (w, s) => httpPatch(changed(httpUpdatePool.pick(w, s))) },
      { name: 'HTTP GET $select=key', group: 'http', baseline: RAW_GET, run: (w, s) => httpGetKey(httpReadPool.pick(w, s).id) },
    ];

    const auditRows = async (): Promise<number> => {
      let rows = 0;
      for await (const page of rawAudit.listEntities({ queryOptions: { select: ['RowKey'] } }).byPage({ maxPageSize: 1000 })) rows += page.length;
      return rows;
    };
    const auditRowsBefore = await auditRows();
    log(`serial: ${knobs.warmup} warm-up + ${knobs.ops} rounds of ${variants.length} variants, one operation at a time`);
    const serial = await serialRounds(variants, { warmup: knobs.warmup, ops: knobs.ops, monitor });
    log(`concurrent: ${knobs.concurrency} workers, ${knobs.rounds} rounds x ${knobs.sliceMs} ms per variant`);
    const concurrent = await concurrentRounds(variants, {
      concurrency: knobs.concurrency,
      rounds: knobs.rounds,
      sliceMs: knobs.sliceMs,
      warmupMs: 200,
      monitor,
    });

    const auditLogRows = { beforeLatencyPhases: auditRowsBefore, after: await auditRows() };
    log(`AuditLog rows: ${auditLogRows.beforeLatencyPhases} before the latency phases, ${auditLogRows.after} after`);

    // Storage requests of a child host's process are not seen from here.
    const seen = (v: BenchVariant): boolean => !(knobs.host === 'child' && v.group === 'http');
    const rows: Row[] = variants.map((v) => {
      const s = serial.get(v.name)!;
      const c = concurrent.get(v.name)!;
      return {
        name: v.name,
        group: v.group,
        baseline: v.baseline,
        serial: roundSummary(s.latency),
        concurrent: {
          opsPerSec: round(c.opsPerSec, 1),
          ops: c.ops,
          seconds: round(c.seconds, 2),
          p50: round(c.latency.p50),
          p99: round(c.latency.p99),
          requestsPerOp: seen(v) ? c.roundTrips.total : undefined,
        },
        storage: seen(v) ? s.roundTrips : undefined,
        inStorageP50: seen(v) ? round(s.inStorage.p50) : undefined,
        outsideStorageP50: seen(v) ? round(s.outsideStorage.p50) : undefined,
      };
    });
    for (const row of rows) {
      const base = rows.find((r) => r.name === row.baseline);
      if (!base) continue;
      row.p50VsBaseline = round(row.serial.p50 / base.serial.p50, 2);
      row.opsPerSecVsBaseline = round(row.concurrent.opsPerSec / base.concurrent.opsPerSec, 2);
    }

    const results: Results = {
      date: new Date().toISOString(),
      machine,
      loadAverage: { before: loadBefore, after: os.loadavg().map((l) => round(l, 2)) },
      knobs,
      hostMode: knobs.host,
      azurite: azuriteVersion(),
      rows,
      cold,
      growth,
      lookups,
      auditLogRows,
      totalSeconds: round((now() - started) / 1000, 1),
    };
    const targets = evaluateTargets(results);
    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    fs.writeFileSync(RESULTS_FILE, `${JSON.stringify({ ...results, targets }, null, 2)}\n`);
    printReport(results, targets);
    log(`wrote ${path.relative(ROOT, RESULTS_FILE)}; total ${results.totalSeconds} s`);
  } finally {
    monitor.close();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await azurite?.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Targets and report

function evaluateTargets(results: Results): Target[] {
  const targets: Target[] = [];
  const row = (name: string): Row => results.rows.find((r) => r.name === name)!;
  const patches = ['handler PATCH new key', 'handler PATCH changed key', 'HTTP PATCH new key', 'HTTP PATCH changed key'];
  for (const name of patches) {
    const value = row(name).p50VsBaseline!;
    targets.push({ target: 'PATCH p50 <= 2x raw upsert p50', subject: name, value, limit: 2, met: value <= 2 });
  }
  for (const name of ['handler GET $select=key', 'HTTP GET $select=key']) {
    const value = row(name).p50VsBaseline!;
    targets.push({ target: 'GET $select=key p50 <= 1.5x raw get p50', subject: name, value, limit: 1.5, met: value <= 1.5 });
  }
  for (const name of patches) {
    const value = row(name).opsPerSecVsBaseline!;
    targets.push({ target: `PATCH ops/s at concurrency ${results.knobs.concurrency} >= 0.5x raw upsert ops/s`, subject: name, value, limit: 0.5, met: value >= 0.5 });
  }
  const cold = (name: string): ColdResult => results.cold.find((c) => c.name === name)!;
  const lib = cold('@azure/functions');
  const node = cold('node (no require)');
  for (const name of ['app: dist/functions/recoveryKeys.js', 'app: every dist/functions/*.js']) {
    const app = cold(name);
    const value = round(app.wallMs.median / lib.wallMs.median, 2);
    targets.push({
      target: 'cold load <= 1.5x bare library load (process wall time, median)',
      subject: name,
      value,
      limit: 1.5,
      met: value <= 1.5,
      note: `require() alone ${round(app.requireMs.median / lib.requireMs.median, 1)}x; Node's own startup (${node.wallMs.median} ms) is in both`,
    });
  }
  const sizes = [...new Set(results.lookups.map((l) => l.size))];
  if (sizes.length > 1) {
    const first = sizes[0]!;
    const last = sizes[sizes.length - 1]!;
    const at = (name: string, size: number): LookupResult => results.lookups.find((l) => l.name === name && l.size === size)!;
    const growth = (name: string, p50: (l: LookupResult) => number): number => round(p50(at(name, last)) / p50(at(name, first)), 2);
    for (const [name, control] of [
      ['handler GET by id', 'raw getEntity'],
      ['handler GET $filter=deviceId eq', 'raw query PartitionKey eq device (index)'],
    ] as const) {
      const value = growth(name, (l) => l.serial.p50);
      targets.push({
        target: `lookups flat: p50 at ${last} keys <= 1.2x p50 at ${first}`,
        subject: name,
        value,
        limit: 1.2,
        met: value <= 1.2,
        note: `the same raw call (${control}) grew ${growth(control, (l) => l.serial.p50)}x; our time outside storage ${growth(name, (l) => l.outsideStorageP50)}x`,
      });
    }
  }
  return targets;
}

function table(header: string[], rows: (string | number | undefined)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const x = (ratio: number | undefined): string | undefined => (ratio === undefined ? undefined : `${ratio.toFixed(2)}x`);

function printReport(results: Results, targets: Target[]): void {
  const c = results.knobs.concurrency;
  const out: string[] = [];
  out.push(`\nBenchmark ${results.date}: ${results.machine.cpus} cores (${results.machine.cpuModel}), Node ${results.machine.node}, Azurite ${results.azurite} in memory`);
  out.push(`HTTP through the local host ${results.hostMode === 'inprocess' ? 'in this process' : 'in a child process'}; tables hold ${results.growth.at(-1)?.keys ?? '?'} keys`);
  out.push(`load average (1 min) before ${results.loadAverage.before[0]}, after ${results.loadAverage.after[0]}\n`);
  out.push(
    table(
      ['operation', 'p50 ms', 'p95 ms', 'p99 ms', `ops/s c=${c}`, 'p50 vs raw', 'ops/s vs raw', 'storage req/op', 'in a row', 'p50 in storage', 'p50 outside'],
      results.rows.map((r) => [
        `${r.group}: ${r.name}`,
        r.serial.p50.toFixed(2),
        r.serial.p95.toFixed(2),
        r.serial.p99.toFixed(2),
        Math.round(r.concurrent.opsPerSec),
        x(r.p50VsBaseline),
        x(r.opsPerSecVsBaseline),
        r.storage?.total,
        r.storage?.sequential,
        r.inStorageP50?.toFixed(2),
        r.outsideStorageP50?.toFixed(2),
      ]),
    ),
  );
  out.push('\nStorage requests per operation (serial; $batch is a transaction):');
  for (const r of results.rows) {
    if (!r.storage) continue;
    const detail = Object.entries(r.storage.detail).map(([k, v]) => `${k} ${v}`).join(', ');
    out.push(`  ${r.name}: ${detail}; at concurrency ${c}: ${r.concurrent.requestsPerOp} per op`);
  }
  out.push(`  (AuditLog rows, all in today's partition: ${results.auditLogRows.beforeLatencyPhases} before these phases, ${results.auditLogRows.after} after)`);
  out.push('\nCold load (a fresh node process per run, median):');
  out.push(
    table(
      ['module', 'runs', 'wall ms', 'min', 'max', 'require() ms'],
      results.cold.map((r) => [r.name, r.runs, r.wallMs.median.toFixed(1), r.wallMs.min.toFixed(1), r.wallMs.max.toFixed(1), r.requireMs.median.toFixed(1)]),
    ),
  );
  out.push('\nSeeding:');
  for (const g of results.growth) {
    out.push(`  to ${g.keys} keys: +${g.added} (${g.throughApp} through the app) in ${(g.ms / 1000).toFixed(1)} s, ${g.keysPerSec} keys/s, ${g.requests} direct requests`);
  }
  const sizes = [...new Set(results.lookups.map((l) => l.size))];
  const names = [...new Set(results.lookups.map((l) => l.name))];
  out.push(`\nLookups by stored keys (p50 ms; list by device on devices with ${KEYS_PER_PROBE_DEVICE} keys):`);
  out.push(
    table(
      ['operation', ...sizes.map((s) => `${s}`), `${sizes.at(-1)}/${sizes[0]}`, 'storage req/op', 'p50 outside storage'],
      names.map((name) => {
        const at = sizes.map((s) => results.lookups.find((l) => l.name === name && l.size === s)!);
        return [
          name,
          ...at.map((l) => l.serial.p50.toFixed(2)),
          x(at.at(-1)!.serial.p50 / at[0]!.serial.p50),
          at[0]!.storage.total,
          at.map((l) => l.outsideStorageP50.toFixed(2)).join(' / '),
        ];
      }),
    ),
  );
  out.push('\nTargets:');
  for (const t of targets) {
    out.push(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.target}: ${t.subject} ${t.value}x (limit ${t.limit}x)${t.note ? `; ${t.note}` : ''}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
