import { TableClient, type TransactionAction } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import * as diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { parseArgs } from 'node:util';
import { startAzuriteTables } from '../devhost/azurite';
import { forEachLimit } from '../../shared/runs/forEachLimit';
import { TABLES, STATUS_ROW } from '../../shared/storage/layout';
import { saveInventoryCheckpoint } from '../../shared/inventory/store';

// The coverage report's cost for a tenant of N devices (default 10,000): `node dist/scripts/bench/coverageReport.js
// [--devices N]`. Seeds an in-memory Azurite of its own below the API (inventory rows as a complete run
// leaves them, one status and one to three trusted index entries per device, 5% of devices with an
// untrusted entry that costs a point read), then computes the report in this process and prints the time
// and the storage requests it sent, by method and table. A measurement to read, not a test.

const STATES = ['covered', 'missingKey', 'noKeys', 'noReport'] as const;

async function seed(connectionString: string, devices: number): Promise<void> {
  const table = (name: string) => TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true });
  const [inventory, statuses, index] = [table(TABLES.deviceInventory), table(TABLES.deviceStatuses), table(TABLES.deviceIndex)];
  await Promise.all([inventory.createTable(), statuses.createTable(), index.createTable()]);
  const runId = randomUUID();
  // A complete inventory run, written by the inventory's own store (the process's storage setting
  // points at this Azurite before seeding).
  for (const source of ['entra', 'intune'] as const) {
    await saveInventoryCheckpoint({ source, runId, scope: 'bench', startedAt: '', pages: 1, restarts: 0, lastCompleteRunId: runId });
  }
  const ids = Array.from({ length: devices }, (_, i) => ({ deviceId: randomUUID(), i }));
  await forEachLimit(ids, 32, async ({ deviceId, i }) => {
    const state = STATES[i % 10 < 7 ? 0 : (i % 10) - 6];
    await inventory.submitTransaction([
      ['upsert', { partitionKey: deviceId, rowKey: 'entra', seenRun: runId, displayName: `PC-${i}`, accountEnabled: true }],
      [
        'upsert',
        {
          partitionKey: deviceId,
          rowKey: `intune-${randomUUID()}`,
          seenRun: runId,
          deviceName: `PC-${i}`,
          isEncrypted: true,
          userPrincipalName: `u${i}@contoso.test`,
        },
      ],
    ]);
    const keys = state === 'noKeys' ? [] : Array.from({ length: 1 + (i % 3) }, () => randomUUID());
    const entries: TransactionAction[] = keys.map((id) => [
      'upsert',
      {
        partitionKey: deviceId,
        rowKey: id,
        volumeType: 'operatingSystemVolume',
        createdDateTime: '2026-01-01T00:00:00.000Z',
        listed: true,
      },
    ]);
    if (i % 20 === 0) entries.push(['upsert', { partitionKey: deviceId, rowKey: randomUUID(), listed: false }]);
    if (entries.length > 0) await index.submitTransaction(entries);
    if (state === 'noReport') return;
    const reported = state === 'missingKey' ? [...keys, randomUUID()] : keys.slice(0, 1);
    const volumes = [
      { volumeType: 'operatingSystemVolume', protectionStatus: 'on', recoveryPasswordIds: state === 'noKeys' ? [randomUUID()] : reported },
    ];
    await statuses.upsertEntity({
      partitionKey: deviceId,
      rowKey: STATUS_ROW,
      volumes: JSON.stringify(volumes),
      lastReportedDateTime: new Date().toISOString(),
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { devices: { type: 'string' } } });
  const devices = Number(values.devices ?? 10_000);
  const azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  Object.assign(process.env, { STORAGE_CONNECTION_STRING: azurite.connectionString, AUTH_MODE: 'local' });
  try {
    let started = Date.now();
    await seed(azurite.connectionString, devices);
    process.stderr.write(`seeded ${devices} devices in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    const requests = new Map<string, number>();
    const count = (message: unknown): void => {
      const { request } = message as { request: ClientRequest };
      const table = /^\/[^/]+\/([A-Za-z]+)/.exec(request.path)?.[1] ?? '?';
      const what = `${request.method} ${table}`;
      requests.set(what, (requests.get(what) ?? 0) + 1);
    };
    diagnostics.subscribe('http.client.request.start', count);
    // Loaded after the environment is set: the settings are read on first use.
    const { computeCoverage } = await import('../../shared/coverage/compute');
    started = Date.now();
    const result = await computeCoverage();
    const seconds = (Date.now() - started) / 1000;
    diagnostics.unsubscribe('http.client.request.start', count);
    const total = [...requests.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(
      `${JSON.stringify({ devices, complete: result.complete, seconds, storageRequests: total, byTable: Object.fromEntries([...requests].sort()), summary: result.head.summary }, null, 2)}\n`,
    );
  } finally {
    await azurite.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
