import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzuriteBlobs, startAzuriteTables, type RunningAzurite, type RunningAzuriteBlobs } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { TABLES } from '../../shared/storage/layout';
import { AUDIT_READ, auditsPath, targetFilter, type DirectoryAudit } from '../support/audit';
import { callOn, expectGraphError, READ, tokenWith, WRITE, type ApiResponse } from '../support/client';
import { keyBody, newId, type KeyBody } from '../support/fixtures';
import { item, WHOLE_KEY } from '../support/keys';
import { runScript } from '../support/scripts';

// Reads that survive the primary region: a host with a primary Azurite (persisted to a folder, so it
// can be stopped and started again with its data), a secondary Azurite seeded as a copy of it (what
// RA-GZRS replication gives), and Azurite's blob service as the backup account that holds the audit
// outbox. With the primary stopped under the running host, key reads are answered from the secondary,
// writes are a 503, and a reveal's audit record goes to the outbox before the key leaves; once the
// primary is back, the merge puts it into the audit trail, where the API lists it.

jest.setTimeout(120_000);

/** What a client may wait for a read that fell back: the primary's refused connection, then the secondary's answer. */
const BOUND_MS = 8_000;

let folder: string;
let primary: RunningAzurite;
let secondary: RunningAzurite;
let blobs: RunningAzuriteBlobs;
let host: LocalHost;
let writer: string;
let reader: string;
let auditor: string;
const keys: KeyBody[] = [];

const timed = async (request: Promise<ApiResponse>): Promise<ApiResponse & { ms: number }> => {
  const started = Date.now();
  const response = await request;
  return { ...response, ms: Date.now() - started };
};

/** Copies every entity of every table from one Azurite to another: the secondary as replication would have made it. */
async function replicate(from: RunningAzurite, to: RunningAzurite): Promise<number> {
  let copied = 0;
  for (const table of Object.values(TABLES)) {
    const source = TableClient.fromConnectionString(from.connectionString, table, { allowInsecureConnection: true });
    const target = TableClient.fromConnectionString(to.connectionString, table, { allowInsecureConnection: true });
    await target.createTable();
    try {
      for await (const entity of source.listEntities({ disableTypeConversion: true })) {
        const {
          etag: _etag,
          timestamp: _timestamp,
          ...stored
        } = entity as Record<string, unknown> & { partitionKey: string; rowKey: string };
        await target.upsertEntity(stored, 'Replace');
        copied++;
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }
  return copied;
}

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'escrow-secondary-'));
  [primary, secondary, blobs] = await Promise.all([
    startAzuriteTables({ inMemory: false, location: folder }),
    startAzuriteTables({ inMemory: true }),
    startAzuriteBlobs({ inMemory: true }),
  ]);
  host = await startLocalHost({
    STORAGE_CONNECTION_STRING: primary.connectionString,
    STORAGE_SECONDARY_TABLE_ENDPOINT: secondary.tableEndpoint,
    BACKUP_CONNECTION_STRING: blobs.connectionString,
    AUTH_MODE: 'local',
    LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
  });
  [writer, reader, auditor] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(AUDIT_READ)]);
}, 60_000);

afterAll(async () => {
  await stopLocalHosts();
  await Promise.all([primary?.stop(), secondary?.stop(), blobs?.stop()]);
  await rm(folder, { recursive: true, force: true });
}, 30_000);

describe('key reads when the primary table endpoint is down', () => {
  let reveal: ApiResponse & { ms: number };

  it('escrows keys on the primary, which replicates to the secondary', async () => {
    for (let i = 0; i < 3; i++) {
      const body = keyBody();
      const response = await callOn(host.url, 'PATCH', item(body.id!), { token: writer, body });
      expect(response.status).toBe(200);
      keys.push(body);
    }
    expect(await replicate(primary, secondary)).toBeGreaterThanOrEqual(9);
  });

  it('answers key reads from the secondary, and writes with a 503, once the primary stops', async () => {
    await primary.stop();
    reveal = await timed(callOn(host.url, 'GET', `${item(keys[0].id!)}?${WHOLE_KEY}`, { token: reader }));
    expect({ status: reveal.status, key: reveal.json.key, withinBound: reveal.ms <= BOUND_MS }).toEqual({
      status: 200,
      key: keys[0].key,
      withinBound: true,
    });
    const [metadata, absent, write, remove] = await Promise.all([
      timed(callOn(host.url, 'GET', item(keys[1].id!), { token: reader })),
      timed(callOn(host.url, 'GET', `${item(newId())}?$select=key`, { token: reader })),
      timed(callOn(host.url, 'PATCH', item(keys[2].id!), { token: writer, body: { volumeType: 'fixedDataVolume' } })),
      timed(callOn(host.url, 'DELETE', item(keys[1].id!), { token: writer })),
    ]);
    expect({ status: metadata.status, deviceId: metadata.json.deviceId, key: metadata.json.key }).toEqual({
      status: 200,
      deviceId: keys[1].deviceId,
      key: undefined,
    });
    // The secondary's 404 is an answer, not an outage; but a refusal is recorded before it goes out, in the
    // audit table only (refusals are counted per caller there), so while the primary is down it is a 503.
    expectGraphError(absent, 503, 'serviceNotAvailable');
    expectGraphError(write, 503, 'serviceNotAvailable');
    expectGraphError(remove, 503, 'serviceNotAvailable');
    for (const r of [metadata, absent, write, remove]) expect(r.ms).toBeLessThanOrEqual(BOUND_MS);
    process.stderr.write(
      `[secondary] primary down: reveal ${reveal.ms} ms, GET ${metadata.ms} ms, 404 ${absent.ms} ms, PATCH 503 ${write.ms} ms, DELETE 503 ${remove.ms} ms\n`,
    );
  });

  it('wrote the reveal audit record to the outbox in the backup account, without the key', async () => {
    const container = BlobServiceClient.fromConnectionString(blobs.connectionString).getContainerClient('escrow-backups');
    const lines: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: 'audit-outbox/' })) {
      lines.push(...(await container.getBlobClient(blob.name).downloadToBuffer()).toString().split('\n').filter(Boolean));
    }
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(record).toMatchObject({
      activityDisplayName: 'Read BitLocker key',
      result: 'success',
      targetId: keys[0].id,
      correlationId: reveal.headers.get('request-id'),
    });
    expect(lines[0]).not.toContain(keys[0].key!);
  });

  it('merges the outbox into the audit trail once the primary is back, once', async () => {
    primary = await startAzuriteTables({ port: primary.port, inMemory: false, location: folder });
    const env = { STORAGE_CONNECTION_STRING: primary.connectionString, BACKUP_CONNECTION_STRING: blobs.connectionString };
    const first = await runScript('backup', [], env, 60_000);
    expect({ code: first.code, merged: /merged 1 audit records from the outbox/.test(first.stderr) }).toEqual({ code: 0, merged: true });
    const second = await runScript('backup', [], env, 60_000);
    expect({ code: second.code, merged: /merged \d+ audit records/.test(second.stderr) }).toEqual({ code: 0, merged: false });

    // The host notices the primary is back within its 30 s down-window: a write succeeds again.
    let write = await callOn(host.url, 'PATCH', item(keys[2].id!), { token: writer, body: { volumeType: 'fixedDataVolume' } });
    for (const started = Date.now(); write.status !== 200 && Date.now() - started < 20_000;) {
      await sleep(500);
      write = await callOn(host.url, 'PATCH', item(keys[2].id!), { token: writer, body: { volumeType: 'fixedDataVolume' } });
    }
    expect(write.status).toBe(200);

    const trail = await callOn(host.url, 'GET', auditsPath({ $filter: targetFilter(keys[0].id!) }), { token: auditor });
    const reads = (trail.json.value as DirectoryAudit[]).filter((event) => event.activityDisplayName === 'Read BitLocker key');
    expect(reads.map((event) => ({ correlationId: event.correlationId, result: event.result }))).toEqual([
      { correlationId: reveal.headers.get('request-id'), result: 'success' },
    ]);
  });
});
