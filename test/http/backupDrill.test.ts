import { TableClient } from '@azure/data-tables';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { gunzipSync } from 'node:zlib';
import { startAzuriteBlobs, startAzuriteTables, type RunningAzurite, type RunningAzuriteBlobs } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { TABLES } from '../../shared/storage/layout';
import { AUDIT_READ, auditsPath, type DirectoryAudit } from '../support/audit';
import { callOn, READ, tokenWith, WRITE } from '../support/client';
import { keyBody, newId, type KeyBody } from '../support/fixtures';
import { COLLECTION, followPages, item, WHOLE_KEY } from '../support/keys';
import { runScript, type ScriptRun } from '../support/scripts';

// The backup drill: keys escrowed, revealed, deleted and rotated through the API of a host on one
// Azurite; `npm run backup` (a full snapshot, then an incremental one) to Azurite's blob service;
// `npm run restore` into a fresh, empty Azurite; a host on that one answers every key's password,
// metadata and state, and every audit event, exactly as the first did. Then damaged snapshots (a
// truncated part, a flipped byte, an edited manifest) are refused with their reason, and nothing is written.

jest.setTimeout(120_000);

const CONTAINER = 'escrow-backups';
const DELETED = '/v1.0/directory/deletedItems/microsoft.graph.bitlockerRecoveryKey';

let source: RunningAzurite;
let blobs: RunningAzuriteBlobs;
const started: { stop(): Promise<void> }[] = [];
let writer: string;
let reader: string;
let auditor: string;

const hostOn = (azurite: RunningAzurite): Promise<LocalHost> =>
  startLocalHost({ STORAGE_CONNECTION_STRING: azurite.connectionString, AUTH_MODE: 'local', LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR });

/** The environment of `npm run backup` / `npm run restore` against the tables of `azurite`. */
const toolEnv = (azurite: RunningAzurite) => ({
  STORAGE_CONNECTION_STRING: azurite.connectionString,
  STORAGE_TABLE_ENDPOINT: undefined,
  BACKUP_CONNECTION_STRING: blobs.connectionString,
  BACKUP_BLOB_ENDPOINT: undefined,
  BACKUP_CONTAINER: undefined,
});

async function freshTables(): Promise<RunningAzurite> {
  const azurite = await startAzuriteTables({ inMemory: true });
  started.push(azurite);
  return azurite;
}

async function backup(args: string[] = []): Promise<{ name: string; run: ScriptRun }> {
  const run = await runScript('backup', args, toolEnv(source), 60_000);
  expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = run.stdout.trim().split('\n');
  return { name: lines[lines.length - 1], run };
}

const restore = (target: RunningAzurite, args: string[]) => runScript('restore', args, toolEnv(target), 60_000);

/** Every entity of every table of `azurite`, keyed by table: to show that a refused restore wrote nothing. */
async function entityCounts(azurite: RunningAzurite): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of Object.values(TABLES)) {
    const client = TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });
    let n = 0;
    try {
      for await (const _entity of client.listEntities()) n++;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    counts[table] = n;
  }
  return counts;
}

const emptyCounts = () => Object.fromEntries(Object.values(TABLES).map((table) => [table, 0]));

/** The whole audit trail, newest first, as the API lists it. */
async function trailOf(host: LocalHost): Promise<DirectoryAudit[]> {
  return (await followPages(auditsPath({ $top: '100' }), auditor, 50, host.url)).flatMap((page) => page.json.value as DirectoryAudit[]);
}

/** Each key's password and metadata, or its error code; and the deleted keys. The key reads are audited. */
async function keysOf(host: LocalHost, ids: readonly string[]) {
  const deleted = (await followPages(DELETED, reader, 20, host.url)).flatMap((page) => page.json.value as { id: string }[]);
  const keys = await Promise.all(
    ids.map(async (id) => {
      const response = await callOn(host.url, 'GET', `${item(id)}?${WHOLE_KEY}`, { token: reader });
      // The ETag is storage's Timestamp, which a restore cannot set; the context names the host.
      const { '@odata.etag': _etag, '@odata.context': _context, ...body } = response.json;
      return { id, status: response.status, body: response.status === 200 ? body : response.json.error?.code };
    }),
  );
  return { deleted: deleted.sort((a, b) => a.id.localeCompare(b.id)), keys };
}

function container(): ContainerClient {
  return BlobServiceClient.fromConnectionString(blobs.connectionString).getContainerClient(CONTAINER);
}

async function overwrite(blob: string, body: Buffer): Promise<void> {
  await container().getBlockBlobClient(blob).uploadData(body);
}

async function download(blob: string): Promise<Buffer> {
  return container().getBlockBlobClient(blob).downloadToBuffer();
}

describe('backup and restore drill', () => {
  let host: LocalHost;
  const device = newId();
  const ids: string[] = [];
  const bodies = new Map<string, KeyBody>();
  let full: string;
  let incremental: string;
  let before: Awaited<ReturnType<typeof keysOf>> & { trail: DirectoryAudit[] };

  beforeAll(async () => {
    [source, blobs] = await Promise.all([startAzuriteTables({ inMemory: true }), startAzuriteBlobs({ inMemory: true })]);
    started.push(source, blobs);
    host = await hostOn(source);
    [writer, reader, auditor] = await Promise.all([tokenWith(WRITE), tokenWith(READ), tokenWith(AUDIT_READ)]);
  }, 60_000);

  afterAll(async () => {
    await stopLocalHosts();
    await Promise.all(started.map((s) => s.stop()));
  }, 30_000);

  const patch = async (body: KeyBody) => {
    const response = await callOn(host.url, 'PATCH', item(body.id!), { token: writer, body });
    expect(response.status).toBe(200);
    ids.push(body.id!);
    bodies.set(body.id!, body);
  };

  it('escrows and reveals keys, then takes a full snapshot', async () => {
    for (const volumeType of ['operatingSystemVolume', 'fixedDataVolume']) await patch(keyBody({ deviceId: device, volumeType }));
    await patch(keyBody());
    const revealed = await callOn(host.url, 'GET', `${item(ids[0])}?$select=key`, { token: reader });
    expect(revealed.json.key).toBe(bodies.get(ids[0])!.key);

    const { name, run } = await backup();
    full = name;
    expect(full).toMatch(/^snapshot-\d{8}T\d{9}Z$/);
    expect(run.stderr).toContain(`full snapshot ${full}`);
    expect(run.stderr).toMatch(/RecoveryKeys: \d+ entities/);
  });

  it('deletes and rotates keys, then takes an incremental snapshot on the full one', async () => {
    const deleted = await callOn(host.url, 'DELETE', item(ids[2]), { token: writer });
    expect(deleted.status).toBe(204);
    // Rotation: BitLocker gives the same volume of the same device a new recovery password, a new key id.
    await patch(keyBody({ deviceId: device, volumeType: 'operatingSystemVolume' }));
    const rotated = ids[ids.length - 1];
    expect((await callOn(host.url, 'GET', `${item(rotated)}?$select=key`, { token: reader })).json.key).toBe(bodies.get(rotated)!.key);

    // The keys first, then the trail, which then holds those reads too: the backup must carry them.
    before = { ...(await keysOf(host, ids)), trail: await trailOf(host) };
    expect(before.keys.map((k) => k.status)).toEqual([200, 200, 404, 200]);
    expect(before.deleted.map((k) => k.id)).toEqual([ids[2]]);
    const activities = before.trail.map((event) => event.activityDisplayName);
    const count = (activity: string) => activities.filter((a) => a === activity).length;
    // Four escrows (the rotation is one), two reveals, one delete, and the four key reads just made.
    expect({ events: activities.length, reads: count('Read BitLocker key'), deletes: count('Delete BitLocker key') }).toEqual({
      events: 11,
      reads: 6,
      deletes: 1,
    });

    const { name, run } = await backup();
    incremental = name;
    expect(incremental > full).toBe(true);
    expect(run.stderr).toContain(`incremental snapshot ${incremental} on ${full}`);
    // Only what changed since the full one is copied: the deleted key's record and the new key's, with their
    // audit twins (4); and the disclosures since (ROTATE_AFTER_REVEAL: a key's first reveal marks its record
    // disclosed, with the read's audit twin beside it): the new key's twin, and ids[1]'s record and twin,
    // first revealed by keysOf above (3). The table holds 4 records and 8 twins: 4 escrows, 1 delete and
    // 3 disclosures (ids[0]'s before the full snapshot, so in it and not copied again).
    const [, entities, copied] = /RecoveryKeys: (\d+) entities, (\d+) copied/.exec(run.stderr)!.map(Number);
    expect({ entities, copied }).toEqual({ entities: 12, copied: 7 });
    process.stderr.write(`[backup drill] npm run backup:\n${run.stderr}${run.stdout}`);
  });

  it('restores into a fresh, empty Azurite: every password, metadata, state and audit event is identical', async () => {
    const target = await freshTables();
    const run = await restore(target, [incremental]);
    process.stderr.write(`[backup drill] npm run restore -- ${incremental}:\n${run.stderr}${run.stdout}`);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`restored ${incremental} and checked it`);

    const restoredHost = await hostOn(target);
    // The trail first here: the key reads that follow add to it.
    const after = { trail: await trailOf(restoredHost), ...(await keysOf(restoredHost, ids)) };
    expect(after.trail).toEqual(before.trail);
    expect(after.deleted).toEqual(before.deleted);
    expect(after.keys).toEqual(before.keys);
    for (const key of after.keys.filter((k) => k.status === 200)) {
      expect((key.body as { key: string }).key).toBe(bodies.get(key.id)!.key);
    }
    // The device still lists its live keys (the device index came back too).
    const list = await callOn(restoredHost.url, 'GET', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${device}'`)}`, {
      token: reader,
    });
    expect((list.json.value as { id: string }[]).map((k) => k.id).sort()).toEqual([ids[0], ids[1], ids[3]].sort());

    // Restoring again over what is now there is refused, and changes nothing.
    const counts = await entityCounts(target);
    const again = await restore(target, [incremental]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /refused: the target is not empty \(.*RecoveryKeys.*\); restore over it with --force\. Nothing was written\./,
    );
    expect(await entityCounts(target)).toEqual(counts);
    // With --force it goes ahead, and the check passes.
    const forced = await restore(target, [incremental, '--force']);
    expect({ code: forced.code, stderr: forced.code === 0 ? '' : forced.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('refuses a truncated part, a corrupted part and an edited manifest with the reason, and writes nothing', async () => {
    const target = await freshTables();
    const manifestOf = async (name: string) =>
      JSON.parse((await download(`snapshots/${name}/manifest.json`)).toString()) as {
        tables: Record<string, { rows: { blob: string }[]; index: { blob: string }[] }>;
      };

    // An edited manifest (one entity count changed, still valid JSON): its checksum no longer matches.
    const third = (await backup()).name;
    const thirdManifest = await manifestOf(third);
    thirdManifest.tables[TABLES.recoveryKeys].index.length = 0;
    await overwrite(`snapshots/${third}/manifest.json`, Buffer.from(JSON.stringify(thirdManifest)));
    let run = await restore(target, [third]);
    expect({ code: run.code, reason: /refused: the manifest of \S+ does not match its checksum/.test(run.stderr) }).toEqual({
      code: 1,
      reason: true,
    });

    // A corrupted part of the base snapshot (one byte flipped, same length): the incremental one that needs it is refused.
    const fullRows = (await manifestOf(full)).tables[TABLES.recoveryKeys].rows[0].blob;
    const original = await download(fullRows);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 10] ^= 0xff;
    await overwrite(fullRows, flipped);
    run = await restore(target, [incremental]);
    expect({ code: run.code, corrupted: run.stderr.includes(`${fullRows} does not match its SHA-256`), stderr: run.stderr }).toMatchObject({
      code: 1,
      corrupted: true,
    });
    await overwrite(fullRows, original);

    // A truncated part: half of the audit rows of the incremental snapshot.
    const auditRows = (await manifestOf(incremental)).tables[TABLES.auditLog].rows[0].blob;
    const whole = await download(auditRows);
    expect(gunzipSync(whole).toString()).toContain('Read BitLocker key');
    await overwrite(auditRows, whole.subarray(0, Math.floor(whole.length / 2)));
    run = await restore(target, [incremental]);
    expect({
      code: run.code,
      truncated: /refused: .* bytes, the manifest says \d+ \(truncated\?\)/.test(run.stderr),
      stderr: run.stderr,
    }).toMatchObject({
      code: 1,
      truncated: true,
    });

    // A snapshot that does not exist.
    run = await restore(target, ['snapshot-20000101T000000000Z']);
    expect({ code: run.code, notFound: run.stderr.includes('not found'), stderr: run.stderr }).toMatchObject({ code: 1, notFound: true });

    expect(await entityCounts(target)).toEqual(emptyCounts());
    process.stderr.write(`[backup drill] refused, nothing written: ${run.stderr}`);
  });
});
