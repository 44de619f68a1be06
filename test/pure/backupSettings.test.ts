import { ConfigError, readSettings } from '../../shared/config';
import { canonicalJson, manifestChecksum, parseManifest, snapshotName, SnapshotRefused, type Manifest } from '../../shared/backup/snapshot';

// The settings of backups and of reads from the secondary, and the snapshot manifest's own checks.

describe('backup settings', () => {
  it('are off without a destination, and take the default container with one', () => {
    expect(readSettings({}).backup).toBeUndefined();
    expect(readSettings({ BACKUP_BLOB_ENDPOINT: 'https://escrowbackup.blob.core.windows.net/' }).backup).toEqual({
      blobEndpoint: 'https://escrowbackup.blob.core.windows.net',
      container: 'escrow-backups',
    });
    expect(readSettings({ BACKUP_CONNECTION_STRING: 'UseDevelopmentStorage=true', BACKUP_CONTAINER: 'drill-1' }).backup).toEqual({
      connectionString: 'UseDevelopmentStorage=true',
      container: 'drill-1',
    });
  });

  it.each([
    [
      { BACKUP_BLOB_ENDPOINT: 'https://a.blob.core.windows.net', BACKUP_CONNECTION_STRING: 'AccountKey=c2VjcmV0' },
      /Set only one of BACKUP_CONNECTION_STRING/,
    ],
    [{ BACKUP_BLOB_ENDPOINT: 'http://a.blob.core.windows.net' }, /BACKUP_BLOB_ENDPOINT must be an https URL/],
    [{ BACKUP_BLOB_ENDPOINT: 'https://a.blob.core.windows.net/escrow-backups' }, /blob service's endpoint/],
    [{ BACKUP_CONNECTION_STRING: 'UseDevelopmentStorage=true', BACKUP_CONTAINER: 'Escrow_Backups' }, /BACKUP_CONTAINER must be/],
    [{ BACKUP_SCHEDULE: '0 3 * * *' }, /BACKUP_SCHEDULE must be an NCRONTAB expression of six fields/],
  ])('refuses %j', (env, message) => {
    expect(() => readSettings(env)).toThrow(ConfigError);
    expect(() => readSettings(env)).toThrow(message);
    expect(() => readSettings(env)).not.toThrow(/c2VjcmV0/);
  });

  it('runs the backup timer only when BACKUP_SCHEDULE is set', () => {
    expect(readSettings({}).backupSchedule).toBeUndefined();
    expect(readSettings({ BACKUP_SCHEDULE: '0  0 3 * * *' }).backupSchedule).toBe('0 0 3 * * *');
  });
});

describe('secondary table endpoint', () => {
  it("derives an Azure account's -secondary endpoint from an identity endpoint", () => {
    expect(readSettings({ STORAGE_TABLE_ENDPOINT: 'https://escrowdata.table.core.windows.net' }).secondaryTableEndpoint).toBe(
      'https://escrowdata-secondary.table.core.windows.net',
    );
    // Azurite's path-style endpoint has no secondary of its own.
    expect(readSettings({ STORAGE_TABLE_ENDPOINT: 'https://127.0.0.1:10002/devstoreaccount1' }).secondaryTableEndpoint).toBeUndefined();
    expect(readSettings({}).secondaryTableEndpoint).toBeUndefined();
  });

  it('takes STORAGE_SECONDARY_TABLE_ENDPOINT as given, with a connection string that names its account', () => {
    const env = {
      STORAGE_CONNECTION_STRING: 'AccountName=devstoreaccount1;AccountKey=c2VjcmV0;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1',
      STORAGE_SECONDARY_TABLE_ENDPOINT: 'http://127.0.0.1:10012/devstoreaccount1',
    };
    expect(readSettings(env).secondaryTableEndpoint).toBe('http://127.0.0.1:10012/devstoreaccount1');
    expect(() => readSettings({ ...env, STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' })).toThrow(
      /needs AccountName and AccountKey/,
    );
  });
});

describe('snapshot manifest', () => {
  const unsigned: Omit<Manifest, 'checksum'> = {
    format: 'escrow-backup/1',
    name: snapshotName(new Date('2026-12-06T11:05:12.345Z')),
    kind: 'full',
    watermark: '2026-12-06T11:05:12.345Z',
    finishedAt: '2026-12-06T11:05:13.000Z',
    tableOrder: ['RecoveryKeys'],
    tables: { RecoveryKeys: { rows: [], index: [], deleted: [], entities: 0, changed: 0, deletedCount: 0 } },
  };
  const manifest: Manifest = { ...unsigned, checksum: manifestChecksum(unsigned) };

  it('is named by its time, and hashes the same whatever the order of its properties', () => {
    expect(manifest.name).toBe('snapshot-20261206T110512345Z');
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,{"e":0,"f":1}]},"b":1}');
    const reordered = Object.fromEntries(Object.entries(manifest).reverse());
    expect(parseManifest(JSON.stringify(reordered), manifest.name)).toEqual(manifest);
  });

  it.each([
    ['truncated', (text: string) => text.slice(0, text.length / 2), /is not JSON/],
    ['edited', (text: string) => text.replace('"entities":0', '"entities":1'), /does not match its checksum/],
    ['of another snapshot', (text: string) => text, /names another snapshot/],
    ['malformed', (text: string) => text.replace('"kind":"full"', '"kind":"partial"'), /is malformed/],
  ])('is refused when %s', (what, damage, reason) => {
    const expected = what === 'of another snapshot' ? 'snapshot-20261207T000000000Z' : manifest.name;
    const parse = () => parseManifest(damage(JSON.stringify(manifest)), expected);
    expect(parse).toThrow(SnapshotRefused);
    expect(parse).toThrow(reason);
  });
});
