import { expect } from '@jest/globals';
import { TableClient } from '@azure/data-tables';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { startLocalHost, stopLocalHosts, type LocalHost } from '../../scripts/devhost/localHost';
import { DISCLOSURE_FIELD } from '../../shared/coverage/disclosures';
import { COVERAGE_STATES, type CoverageRow } from '../../shared/coverage/model';
import { STATUS_ROW, TABLES } from '../../shared/storage/layout';
import { secretsIn, tokenParts } from '../support/audit';
import { callOn, expectGraphError, READ_BASIC, token, tokenWith, WRITE } from '../support/client';
import { recoveryPassword } from '../support/fixtures';
import { type GraphStandIn, startGraphStandIn } from '../support/graphStandIn';
import { mapLimit } from '../support/keys';
import { GRAPH_RESOURCE, type ManagedIdentityStandIn, startManagedIdentityStandIn } from '../support/managedIdentity';
import { runScript, type ScriptRun } from '../support/scripts';

// The escrow coverage end to end, on an Azurite and a host of its own (the inventory it completes
// changes what a management tool may report, which the run's other tests must not see): a stand-in
// tenant of a few hundred Windows devices in Entra ID and Intune, keys and statuses seeded through the
// real API, `npm run inventory` against the stand-in Graph (paged, throttled, a page vanishing mid-run,
// cut off by its budget and resumed), `npm run coverage`, then every count and row of the report over
// HTTP and as CSV; last, MBAM's export imported with computer names mapped through that inventory.

jest.setTimeout(600_000);

const KEYS = '/v1.0/informationProtection/bitlocker/recoveryKeys';
const STATUSES = '/v1.0/informationProtection/bitlocker/deviceStatuses';
const REPORT = '/v1.0/informationProtection/bitlocker/coverageReport';
const RUN_TIMEOUT_MS = 240_000;
const HOUR = 3_600_000;

let azurite: RunningAzurite;
let host: LocalHost;
let identity: ManagedIdentityStandIn;
let graph: GraphStandIn;
let graphToken: string;
let writer: string;
let reader: string;
const passwords: string[] = [];

const envFor = (): Record<string, string> => ({
  STORAGE_CONNECTION_STRING: azurite.connectionString,
  GRAPH_BASE_URL: graph.url,
  IDENTITY_ENDPOINT: identity.endpoint,
  IDENTITY_HEADER: identity.header,
});
const script = (name: string, args: string[] = []): Promise<ScriptRun> => runScript(name, args, envFor(), RUN_TIMEOUT_MS);
const api = (method: string, path: string, body?: unknown, token = writer) => callOn(host.url, method, path, { token, body });
const raw = (table: string) => TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });

/** One seeded device: what the tenant and the escrow hold, and the row the report must show for it. */
interface Seed {
  deviceId: string;
  name: string;
  owner?: string;
  intune?: { isEncrypted: boolean };
  /** Live escrowed keys. */
  keys: string[];
  /** Reported on the OS volume, escrowed or not. */
  reported?: string[];
  /** A status backdated past COVERAGE_STALE_DAYS. */
  staleStatus?: boolean;
  disclosedHoursAgo?: number;
  expected?: Pick<CoverageRow, 'state' | 'flags'>;
}

const seeds: Seed[] = [];
function seed(count: number, make: (i: number) => Omit<Seed, 'deviceId' | 'name' | 'keys'> & { keyCount?: number; name?: string }): void {
  for (let i = 0; i < count; i++) {
    const { keyCount = 0, name, ...rest } = make(i);
    const deviceId = randomUUID();
    const keys = Array.from({ length: keyCount }, () => randomUUID());
    seeds.push({
      deviceId,
      name: name ?? `PC-${seeds.length}`,
      keys,
      ...rest,
      reported: rest.reported?.map((r) => (r === 'key0' ? keys[0] : r)),
    });
  }
}

function buildTenant(): void {
  const encrypted = { isEncrypted: true };
  seed(40, (i) => ({
    keyCount: i < 10 ? 2 : 1,
    intune: encrypted,
    owner: `user${i}@contoso.test`,
    reported: ['key0'],
    expected: { state: 'covered', flags: i < 10 ? ['staleKeys'] : [] },
    ...(i === 0 && { name: '=HYPERLINK("http://evil.test","x")' }),
  }));
  seed(40, (i) => ({
    keyCount: 1,
    intune: encrypted,
    reported: ['key0', randomUUID()],
    expected: { state: 'missingKey', flags: [] },
    owner: `m${i}@contoso.test`,
  }));
  seed(40, (i) => ({ intune: encrypted, ...(i % 2 === 0 && { reported: [randomUUID()] }), expected: { state: 'noKeys', flags: [] } }));
  seed(35, () => ({ keyCount: 1, intune: encrypted, expected: { state: 'noReport', flags: [] } }));
  seed(5, () => ({ keyCount: 1, intune: encrypted, reported: ['key0'], staleStatus: true, expected: { state: 'noReport', flags: [] } }));
  seed(20, () => ({
    keyCount: 1,
    intune: encrypted,
    reported: ['key0'],
    disclosedHoursAgo: 48,
    expected: { state: 'rotationOverdue', flags: [] },
  }));
  // Disclosed within ROTATION_DUE_HOURS: not overdue yet.
  seed(5, () => ({ keyCount: 1, intune: encrypted, reported: ['key0'], disclosedHoursAgo: 2, expected: { state: 'covered', flags: [] } }));
  seed(20, () => ({ intune: { isEncrypted: false } }));
  seed(1, () => ({
    keyCount: 180,
    intune: encrypted,
    reported: ['key0'],
    expected: { state: 'covered', flags: ['staleKeys', 'nearKeyLimit'] },
  }));
  // Entra ID only, never reported, nothing escrowed: silent, so noReport.
  seed(10, () => ({ expected: { state: 'noReport', flags: [] } }));

  for (const s of seeds) {
    graph.listings.devices.push({
      id: randomUUID(),
      deviceId: s.deviceId,
      displayName: s.name,
      accountEnabled: true,
      approximateLastSignInDateTime: '2026-12-01T08:00:00Z',
      trustType: 'AzureAd',
      operatingSystem: 'Windows',
    });
    if (s.intune) {
      graph.listings.managedDevices.push({
        id: randomUUID(),
        azureADDeviceId: s.deviceId,
        deviceName: s.name,
        isEncrypted: s.intune.isEncrypted,
        lastSyncDateTime: '2026-12-05T08:00:00Z',
        userPrincipalName: s.owner ?? null,
        operatingSystem: 'Windows',
      });
    }
  }
  // What the inventory must leave out: a Mac, and an Intune device not registered in Entra ID.
  graph.listings.devices.push({ id: randomUUID(), deviceId: randomUUID(), displayName: 'MAC-1', operatingSystem: 'MacMDM' });
  graph.listings.managedDevices.push({
    id: randomUUID(),
    azureADDeviceId: '00000000-0000-0000-0000-000000000000',
    deviceName: 'LOCAL-ONLY',
    isEncrypted: true,
    operatingSystem: 'Windows',
  });
}

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  host = await startLocalHost({ STORAGE_CONNECTION_STRING: azurite.connectionString });
  identity = await startManagedIdentityStandIn({
    claims: {
      roles: ['Device.Read.All', 'DeviceManagementManagedDevices.Read.All'],
      oid: randomUUID(),
      appid: randomUUID(),
      tid: randomUUID(),
    },
  });
  graphToken = await identity.tokenFor(GRAPH_RESOURCE);
  graph = await startGraphStandIn(graphToken);
  graph.listings.pageSize = 40;
  [writer, reader] = await Promise.all([tokenWith(WRITE), tokenWith(READ_BASIC)]);
  buildTenant();
}, 120_000);

afterAll(async () => {
  await stopLocalHosts();
  await graph?.close();
  await identity?.close();
  await azurite?.stop();
});

describe('the inventory', () => {
  it('stops at its budget when Graph asks for a long wait, and says the next run resumes', async () => {
    graph.throttle.push({ status: 429, retryAfter: '30' });
    const run = await script('inventory', ['--budget', '2']);
    expect({ code: run.code, stdout: run.stdout }).toEqual({
      code: 3,
      stdout: expect.stringMatching(
        /^inventory: stopped: entra 0 device row\(s\) in 0 page\(s\), not finished; .*the next run resumes there\n$/,
      ),
    });
  });

  it('resumes, waits out throttling, starts over when a page vanishes, and stores every Windows device once', async () => {
    graph.throttle.push({ status: 429, retryAfter: '1' }, { status: 503 });
    let expired = false;
    graph.listings.afterPage = (path, served) => {
      if (path === '/v1.0/devices' && served === 3 && !expired) {
        expired = true;
        graph.listings.expireSkipTokens();
      }
    };
    const run = await script('inventory');
    const windows = seeds.length;
    const enrolled = seeds.filter((s) => s.intune).length;
    expect({ code: run.code, stdout: run.stdout, leaks: secretsIn(run.stdout + run.stderr, tokenParts(graphToken)) }).toEqual({
      code: 0,
      // The Entra list restarted after its third page: 3 pages, then all of them again.
      stdout: `inventory: done: entra ${3 * 40 + windows} device row(s) in ${3 + Math.ceil(windows / 40)} page(s), listing restarted 1 time(s), 0 gone from Graph removed; intune ${enrolled} device row(s) in ${Math.ceil((enrolled + 1) / 40)} page(s), 1 without an Entra device id, 0 gone from Graph removed\n`,
      leaks: [],
    });
    expect(run.stderr).toMatch(/^inventory:entra: resuming run [0-9a-f-]{36} /m);
    expect(run.stderr).toMatch(/a page vanished \(Microsoft Graph answered 400\.\); listing again from the first page/);
    const rows: string[] = [];
    for await (const row of raw(TABLES.deviceInventory).listEntities({ queryOptions: { filter: "PartitionKey lt '~'" } }))
      rows.push(`${row.partitionKey}/${row.rowKey}`);
    expect(rows).toHaveLength(windows + enrolled);
    expect(new Set(rows).size).toBe(rows.length);
    expect(
      graph.listings.requests.every((r) => r.startsWith('/v1.0/devices?') || r.startsWith('/v1.0/deviceManagement/managedDevices?')),
    ).toBe(true);
  });
});

describe('statuses once the inventory is complete', () => {
  it("refuses a management tool's status for a device Graph does not list, storing nothing", async () => {
    const unknown = randomUUID();
    const response = await api('PUT', `${STATUSES}/${unknown}`, { volumes: [{ volumeType: 1, protectionStatus: 'on' }] });
    expect(expectGraphError(response, 404, 'itemNotFound').message).toBe(
      `Device ${unknown} is not in the device inventory (Entra ID's devices, read by npm run inventory); no status was stored.`,
    );
    await expect(raw(TABLES.deviceStatuses).getEntity(unknown, STATUS_ROW)).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('the report', () => {
  let report: { reportId: string; generatedDateTime: string; summary: Record<string, number> };
  const listed = () => seeds.filter((s) => s.expected);
  const countOf = (state: string) => listed().filter((s) => s.expected!.state === state).length;

  beforeAll(async () => {
    // Keys and statuses through the real API; backdated statuses and disclosure marks below it.
    const keyBodies = seeds.flatMap((s) => s.keys.map((id) => ({ id, deviceId: s.deviceId, volumeType: 1, key: recoveryPassword() })));
    passwords.push(...keyBodies.map((b) => b.key));
    await mapLimit(keyBodies, 8, async (body) => expect((await api('PATCH', KEYS, body)).status).toBe(200));
    await mapLimit(
      seeds.filter((s) => s.reported),
      8,
      async (s) => {
        const body = { volumes: [{ volumeType: 1, protectionStatus: 'on', recoveryPasswordIds: s.reported }] };
        expect((await api('PUT', `${STATUSES}/${s.deviceId}`, body)).status).toBe(200);
      },
    );
    const tenDaysAgo = new Date(Date.now() - 240 * HOUR).toISOString();
    for (const s of seeds.filter((x) => x.staleStatus)) {
      await raw(TABLES.deviceStatuses).updateEntity(
        { partitionKey: s.deviceId, rowKey: STATUS_ROW, lastReportedDateTime: tenDaysAgo },
        'Merge',
      );
    }
    const disclosures = raw(TABLES.keyDisclosures);
    await disclosures.createTable();
    for (const s of seeds.filter((x) => x.disclosedHoursAgo !== undefined)) {
      const at = new Date(Date.now() - s.disclosedHoursAgo! * HOUR).toISOString();
      await disclosures.createEntity({ partitionKey: s.deviceId, rowKey: s.keys[0], [DISCLOSURE_FIELD]: at });
    }
    const run = await script('coverage');
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    report = JSON.parse(run.stdout) as typeof report;
  });

  it('counts every state, flag and unencrypted device', () => {
    expect(report.summary).toEqual({
      ...Object.fromEntries(COVERAGE_STATES.map((state) => [state, countOf(state)])),
      devices: seeds.length,
      notEncrypted: 20,
      staleKeys: 11,
      nearKeyLimit: 1,
    });
    expect(report.summary).toMatchObject({ covered: 46, missingKey: 40, noKeys: 40, noReport: 50, rotationOverdue: 20 });
  });

  it("answers the report over HTTP: a state's devices with names and owners, page by page, never a password", async () => {
    const rows: CoverageRow[] = [];
    let path: string | undefined = `${REPORT}?$filter=${encodeURIComponent("state eq 'missingKey'")}&$top=15`;
    let first = true;
    while (path) {
      const page = await api('GET', path, undefined, reader);
      expect({ status: page.status, error: page.json.error }).toEqual({ status: 200, error: undefined });
      expect(secretsIn(page.text, passwords)).toEqual([]);
      expect(page.json).toMatchObject({ generatedDateTime: report.generatedDateTime, summary: report.summary });
      if (first)
        expect((page.json as { trend?: unknown[] }).trend).toEqual([
          { date: report.generatedDateTime.slice(0, 10), generatedDateTime: report.generatedDateTime, summary: report.summary },
        ]);
      first = false;
      rows.push(...(page.json.value as unknown as CoverageRow[]));
      const next = (page.json as { '@odata.nextLink'?: string })['@odata.nextLink'];
      path = next ? next.slice(host.url.length) : undefined;
    }
    const expected = seeds
      .filter((s) => s.expected?.state === 'missingKey')
      .map((s) => ({
        deviceId: s.deviceId,
        displayName: s.name,
        userPrincipalName: s.owner,
        state: 'missingKey',
        flags: [],
        lastReportedDateTime: expect.any(String),
        liveKeyCount: 1,
        missingKeyIds: [s.reported![1]],
        staleKeyIds: [],
        overdueKeyIds: [],
      }))
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    expect(rows).toEqual(expected);
  });

  it('walks every state without a filter, each device once, in the state the seed expects', async () => {
    const rows: CoverageRow[] = [];
    let path: string | undefined = `${REPORT}?$top=37`;
    while (path) {
      const page = await api('GET', path, undefined, reader);
      rows.push(...(page.json.value as unknown as CoverageRow[]));
      const next = (page.json as { '@odata.nextLink'?: string })['@odata.nextLink'];
      path = next ? next.slice(host.url.length) : undefined;
    }
    const got = Object.fromEntries(rows.map((r) => [r.deviceId, { state: r.state, flags: r.flags }]));
    expect(rows).toHaveLength(listed().length);
    expect(got).toEqual(Object.fromEntries(listed().map((s) => [s.deviceId, s.expected])));
    const overdue = rows.find((r) => r.state === 'rotationOverdue')!;
    expect(overdue.overdueKeyIds).toEqual([seeds.find((s) => s.deviceId === overdue.deviceId)!.keys[0]]);
  });

  it("shows a scoped user (REVEAL_SCOPES) only their devices' rows; the counts stay the tenant's", async () => {
    const [agents, scopedDevices] = [randomUUID(), randomUUID()];
    const mine = listed().slice(0, 2);
    for (const s of mine) {
      graph.directory.devices.set(s.deviceId, { displayName: s.name });
      graph.directory.memberOf.set(s.deviceId, [scopedDevices]);
    }
    const scoped = await startLocalHost({
      STORAGE_CONNECTION_STRING: azurite.connectionString,
      REVEAL_SCOPES: JSON.stringify([{ callerGroups: [agents], deviceGroups: [scopedDevices] }]),
      GRAPH_BASE_URL: graph.url,
      IDENTITY_ENDPOINT: identity.endpoint,
      IDENTITY_HEADER: identity.header,
    });
    const agent = await token({ roles: [READ_BASIC], scopes: ['user_impersonation'], groups: [agents] });
    // Fail closed: while Graph cannot say which devices are in scope, a 503, never a row.
    graph.down = true;
    try {
      const down = await callOn(scoped.url, 'GET', `${REPORT}?$top=999`, { token: agent });
      expect(expectGraphError(down, 503, 'serviceNotAvailable').message).toMatch(/Microsoft Graph could not be reached/);
    } finally {
      graph.down = false;
    }
    const rows: CoverageRow[] = [];
    for (let path: string | undefined = `${REPORT}?$top=999`; path;) {
      const page = await callOn(scoped.url, 'GET', path, { token: agent });
      expect({ status: page.status, error: page.json.error }).toEqual({ status: 200, error: undefined });
      expect(page.json).toMatchObject({ summary: report.summary });
      rows.push(...(page.json.value as unknown as CoverageRow[]));
      const next = (page.json as { '@odata.nextLink'?: string })['@odata.nextLink'];
      path = next ? next.slice(scoped.url.length) : undefined;
    }
    expect(rows.map((r) => r.deviceId).sort()).toEqual(mine.map((s) => s.deviceId).sort());
  });

  it('refuses what it cannot answer, with Graph errors', async () => {
    const bad = await api('GET', `${REPORT}?$filter=${encodeURIComponent("state eq 'lost'")}`, undefined, reader);
    expect(expectGraphError(bad, 400, 'badRequest').message).toMatch(
      /use state eq '<state>', one of rotationOverdue, noKeys, missingKey, noReport, covered/,
    );
    expectGraphError(await api('GET', `${REPORT}?$skiptoken=abc`, undefined, reader), 400, 'badRequest');
    expectGraphError(await api('GET', REPORT, undefined, await tokenWith('AuditLog.Read.All')), 403, 'authorization_error');
  });

  it('writes the same rows as CSV, a formula-looking name as text', async () => {
    const run = await script('coverage', ['--csv']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'deviceId,displayName,userPrincipalName,state,flags,lastReportedDateTime,liveKeyCount,missingKeyIds,staleKeyIds,overdueKeyIds',
    );
    expect(lines).toHaveLength(listed().length + 1);
    const formula = seeds[0];
    expect(lines).toContain(
      `${formula.deviceId},"'=HYPERLINK(""http://evil.test"",""x"")",${formula.owner},covered,staleKeys,${lines.find((l) => l.startsWith(formula.deviceId))!.split(',')[6]},2,,${formula.keys[1]},`,
    );
    expect(secretsIn(run.stdout + run.stderr, passwords)).toEqual([]);
  });

  it("keeps the day's summary and the report before, whose next pages still answer", async () => {
    const firstPage = await api('GET', `${REPORT}?$top=10`, undefined, reader);
    const next = (firstPage.json as { '@odata.nextLink': string })['@odata.nextLink'];
    const run = await script('coverage');
    const second = JSON.parse(run.stdout) as typeof report;
    expect(second.reportId).not.toBe(report.reportId);
    expect(second.summary).toEqual(report.summary);
    const old = await api('GET', next.slice(host.url.length), undefined, reader);
    expect({ status: old.status, generated: old.json.generatedDateTime }).toEqual({ status: 200, generated: report.generatedDateTime });
    const latest = await api('GET', REPORT, undefined, reader);
    expect((latest.json as unknown as { trend: unknown[] }).trend).toEqual([
      { date: second.generatedDateTime.slice(0, 10), generatedDateTime: second.generatedDateTime, summary: second.summary },
    ]);
  });
});

describe("MBAM's export, as MBAM's database gives it", () => {
  it('maps computer names to Entra device ids through the inventory, reads SQL times, and names what it cannot map', async () => {
    const [a, b] = [seeds[60], seeds[61]];
    const rows = [
      { name: a.name, id: randomUUID(), key: recoveryPassword(), at: '2019-03-14 10:22:33.1234567' },
      { name: `${b.name.toLowerCase()}.contoso.com`, id: randomUUID(), key: recoveryPassword(), at: '2020-01-02 03:04:05' },
      { name: 'GHOST-01', id: randomUUID(), key: recoveryPassword(), at: '2021-05-06 07:08:09.000' },
    ];
    const dir = await mkdtemp(join(tmpdir(), 'escrow-mbam-'));
    const file = join(dir, 'mbam.csv');
    // The column names of the query in docs/coverage.md, as SQL Server Management Studio saves its results.
    await writeFile(
      file,
      ['MachineName,RecoveryKeyId,RecoveryKey,LastUpdateTime', ...rows.map((r) => `${r.name},${r.id},${r.key},${r.at}`)].join('\r\n'),
    );
    const run = await script('import', [file, '--volume-type', 'operatingSystemVolume', '--skip-invalid']);
    expect({
      code: run.code,
      leaks: secretsIn(
        run.stdout + run.stderr,
        rows.map((r) => r.key),
      ),
    }).toEqual({ code: 1, leaks: [] });
    expect(run.stderr).toContain(
      'import: line 4: computer GHOST-01 is not in the device inventory (npm run inventory): no Entra device id for it',
    );
    expect(run.stdout).toMatch(/^import: done: 3 seen, 2 imported, 0 updated, 0 skipped, 1 invalid, 0 conflicts, 0 deleted, 0 failed/);
    for (const [row, device, created] of [
      [rows[0], a, '2019-03-14T10:22:33.123Z'],
      [rows[1], b, '2020-01-02T03:04:05.000Z'],
    ] as const) {
      const read = await api('GET', `${KEYS}/${row.id}`, undefined, reader);
      expect(read.json).toMatchObject({
        id: row.id,
        deviceId: device.deviceId,
        volumeType: 'operatingSystemVolume',
        createdDateTime: created,
      });
    }
  });
});
