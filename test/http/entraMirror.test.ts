import { expect } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { AUDIT_READ, auditsOf, detailOf, keySpellings, secretsIn, tokenParts } from '../support/audit';
import { call, READ, READ_BASIC, token, WRITE } from '../support/client';
import { escrowedEtag, escrowedPassword } from '../support/escrowed';
import { newId, recoveryPassword } from '../support/fixtures';
import { mapLimit } from '../support/keys';
import { type BitLockerStandIn, type EntraKey, startBitLockerStandIn } from '../support/bitlockerStandIn';
import { GRAPH_RESOURCE, startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';
import { runScript, startScript, type ScriptRun } from '../support/scripts';

// `npm run mirror:entra` against a stand-in Graph tenant (test/support/bitlockerStandIn.ts) and the real
// @azure/identity credential against a stand-in managed-identity endpoint, storing into the run's
// Azurite. The runs follow each other: the mirror's checkpoint carries from one to the next, as in
// production. Every byte the command prints is searched for every key of the tenant and for the token.

jest.setTimeout(400_000);

/** A run of a few hundred keys takes seconds alone, and minutes on a busy two-core machine. */
const RUN_TIMEOUT_MS = 180_000;
const mirror = (tenant: BitLockerStandIn, args: string[] = []): Promise<ScriptRun> =>
  runScript('mirrorEntra', args, envFor(tenant), RUN_TIMEOUT_MS);

const identity = { oid: randomUUID(), appid: randomUUID(), tid: randomUUID() };
let managedIdentity: ManagedIdentityStandIn;
/** The token the stand-in hands the mirror for Graph: the only one the Graph stand-in accepts. */
let graphToken: string;

beforeAll(async () => {
  managedIdentity = await startManagedIdentityStandIn({
    tenantId: identity.tid,
    claims: { roles: ['BitLockerKey.Read.All', 'Device.Read.All'], ...identity },
  });
  graphToken = await managedIdentity.tokenFor(GRAPH_RESOURCE);
});
afterAll(() => managedIdentity.close());

const entraKey = (): EntraKey => ({
  id: newId(),
  deviceId: newId(),
  volumeType: String(1 + Math.floor(Math.random() * 3)),
  createdDateTime: '2025-06-01T10:00:00Z',
  key: recoveryPassword(),
});

async function tenantOf(count: number): Promise<BitLockerStandIn> {
  const tenant = await startBitLockerStandIn(graphToken);
  for (let i = 0; i < count; i++) {
    const key = entraKey();
    tenant.keys.set(key.id, key);
  }
  return tenant;
}

const envFor = (tenant: BitLockerStandIn): Record<string, string> => ({
  GRAPH_BASE_URL: tenant.url,
  IDENTITY_ENDPOINT: managedIdentity.endpoint,
  IDENTITY_HEADER: managedIdentity.header,
});

const SUMMARY =
  /^mirror:entra: done: (\d+) seen, (\d+) imported, (\d+) updated, (\d+) skipped, (\d+) vanished, (\d+) conflicts, (\d+) deleted, (\d+) failed, (\d+) key reads, [\d.]+ keys\/s in [\d.]+ s(?:, (\d+) escrowed key\(s\) no longer in Entra \(kept\)|; stopped .*)$/;

function summaryOf(run: ScriptRun) {
  const lines = run.stdout.trim().split('\n');
  expect({ lines, stderr: run.stderr }).toEqual({ lines: [expect.stringMatching(SUMMARY)], stderr: expect.any(String) });
  const [seen, imported, updated, skipped, vanished, conflicts, deleted, failed, reads, gone] = SUMMARY.exec(lines[0])!
    .slice(1)
    .map(Number);
  return { seen, imported, updated, skipped, vanished, conflicts, deleted, failed, reads, gone };
}

/** Every spelling of every key the tenant ever held, and the managed identity's token, found in the output. */
function leaks(run: ScriptRun, keys: Iterable<EntraKey>): string[] {
  return secretsIn(run.stdout + run.stderr, [...[...keys].flatMap((k) => keySpellings(k.key)), ...tokenParts(graphToken)]);
}

describe('a tenant of 250 keys over three pages, throttled, with a 503 and a key that vanishes', () => {
  let tenant: BitLockerStandIn;
  let everKey: Map<string, EntraKey>;
  let vanished: EntraKey;
  let throttled: string[];

  beforeAll(async () => {
    tenant = await tenantOf(250);
    everKey = new Map(tenant.keys);
    const ids = [...tenant.keys.keys()];
    throttled = [ids[3], ids[120], ids[121], ids[240]];
    for (const id of throttled) tenant.throttleFirstRead.set(id, 1);
    tenant.failPageOnce.add(100);
    vanished = tenant.keys.get(ids[200])!;
    tenant.vanishOnRead.add(vanished.id);
  });
  afterAll(() => tenant.close());

  it('the first run escrows every key with its password, honouring every Retry-After, and prints no key or token', async () => {
    const run = await mirror(tenant, ['--progress-every', '200']);
    expect(leaks(run, everKey.values())).toEqual([]);
    expect(run.code).toBe(0);
    expect(summaryOf(run)).toEqual({
      seen: 250,
      imported: 249,
      updated: 0,
      skipped: 0,
      vanished: 1,
      conflicts: 0,
      deleted: 0,
      failed: 0,
      reads: 250,
      gone: 0,
    });
    expect(run.stderr).toMatch(/^mirror:entra: \d+ seen, \d+ imported, .* keys\/s$/m);

    const present = [...tenant.keys.values()];
    expect(await mapLimit(present, 8, (k) => escrowedPassword(k.id))).toEqual(present.map((k) => k.key));
    expect(await escrowedPassword(vanished.id)).toBeUndefined();

    // Throttling: each throttled key was read again, never before its Retry-After; the 503 page was listed again.
    expect(tenant.violations).toEqual([]);
    for (const id of throttled) {
      const reads = tenant.keyReads.filter((r) => r.id === id);
      expect(reads.map((r) => r.status)).toEqual([429, 200]);
      expect(reads[1].at - reads[0].at).toBeGreaterThanOrEqual(1000);
    }
    expect(tenant.listRequests).toEqual([0, 100, 100, 200]);
  });

  it('is audited as an import from Entra, initiated by the managed identity', async () => {
    const [event] = await auditsOf(throttled[0], await token({ roles: [AUDIT_READ] }));
    expect(event).toMatchObject({
      activityDisplayName: 'Import BitLocker key',
      result: 'success',
      initiatedBy: { user: null, app: { appId: identity.appid, servicePrincipalId: identity.oid } },
    });
    expect(detailOf(event, 'Source')).toBe('entra');
    expect(detailOf(event, 'TenantId')).toBe(identity.tid);
  });

  it('a second run over the unchanged tenant reads no key and writes nothing', async () => {
    const readsBefore = tenant.keyReads.length;
    const etags = await mapLimit([...tenant.keys.keys()], 8, escrowedEtag);
    const run = await mirror(tenant);
    expect(run.code).toBe(0);
    expect(summaryOf(run)).toEqual({
      seen: 249,
      imported: 0,
      updated: 0,
      skipped: 249,
      vanished: 0,
      conflicts: 0,
      deleted: 0,
      failed: 0,
      reads: 0,
      gone: 0,
    });
    expect(tenant.keyReads.length).toBe(readsBefore);
    expect(await mapLimit([...tenant.keys.keys()], 8, escrowedEtag)).toEqual(etags);
  });

  it('keys deleted in Entra stay escrowed and are counted; a new key is read once', async () => {
    const deleted = [...tenant.keys.values()].slice(10, 13);
    for (const key of deleted) tenant.keys.delete(key.id);
    const added = entraKey();
    tenant.keys.set(added.id, added);
    everKey.set(added.id, added);
    const readsBefore = tenant.keyReads.length;

    const run = await mirror(tenant);
    expect(leaks(run, everKey.values())).toEqual([]);
    expect(run.code).toBe(0);
    expect(summaryOf(run)).toMatchObject({ seen: 247, imported: 1, skipped: 246, reads: 1, gone: 3 });
    expect(tenant.keyReads.slice(readsBefore).map((r) => r.id)).toEqual([added.id]);
    expect(await mapLimit([...deleted, added], 4, (k) => escrowedPassword(k.id))).toEqual([...deleted, added].map((k) => k.key));
  });
});

it('a key deleted here (kept for restoring) is reported as deleted, not read from Entra, on every run', async () => {
  const tenant = await tenantOf(3);
  try {
    const first = await mirror(tenant);
    expect(summaryOf(first)).toMatchObject({ seen: 3, imported: 3, conflicts: 0, deleted: 0, reads: 3 });
    const [gone] = [...tenant.keys.values()];
    const writer = await token({ roles: [WRITE] });
    expect((await call('DELETE', `/bitlocker/recoveryKeys/${gone.id}`, { token: writer })).status).toBe(204);
    const readsBefore = tenant.keyReads.length;

    for (const run of [await mirror(tenant), await mirror(tenant)]) {
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(`mirror:entra: key ${gone.id} is a deleted key here; restore or purge it to mirror it; left as it is`);
      expect(run.stderr).not.toContain('conflict');
      expect(summaryOf(run)).toMatchObject({ seen: 3, imported: 0, skipped: 2, conflicts: 0, deleted: 1, reads: 0 });
      expect(leaks(run, tenant.keys.values())).toEqual([]);
    }
    expect(tenant.keyReads.length).toBe(readsBefore);
    expect((await call('GET', `/bitlocker/recoveryKeys/${gone.id}`, { token: writer })).status).toBe(404);
  } finally {
    await tenant.close();
  }
});

it('a run stopped part-way resumes after the last finished page, without reading again what it stored', async () => {
  const tenant = await tenantOf(300);
  try {
    // Killed outright (as a host recycle would) once it is well into the second page.
    const first = startScript('mirrorEntra', [], envFor(tenant), RUN_TIMEOUT_MS);
    tenant.onKeyRead = (count) => {
      if (count === 150) first.kill('SIGKILL');
    };
    const killed = await first.finished;
    tenant.onKeyRead = undefined;
    expect(killed.code).toBeNull();
    expect(tenant.listRequests).toEqual([0, 100]);

    const stored = new Set<string>();
    await mapLimit([...tenant.keys.keys()], 8, async (id) => {
      if (await escrowedEtag(id)) stored.add(id);
    });
    expect(stored.size).toBeGreaterThanOrEqual(100);
    const readsBefore = tenant.keyReads.length;

    const run = await mirror(tenant);
    expect(leaks(run, tenant.keys.values())).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^mirror:entra: resuming run [0-9a-f-]{36} .* after 1 page\(s\)$/m);
    // The second run starts at the second page, and reads only keys the first did not store.
    expect(tenant.listRequests).toEqual([0, 100, 100, 200]);
    const readAgain = tenant.keyReads.slice(readsBefore).filter((r) => stored.has(r.id));
    expect(readAgain).toEqual([]);
    const all = [...tenant.keys.values()];
    expect(await mapLimit(all, 8, (k) => escrowedPassword(k.id))).toEqual(all.map((k) => k.key));
  } finally {
    await tenant.close();
  }
});

it('a nextLink back to a page already read ends the run at once, as a failure, instead of looping until the budget', async () => {
  const tenant = await tenantOf(30);
  tenant.pageSize = 10;
  tenant.loopPage = 10;
  try {
    const run = await mirror(tenant, ['--budget', '60']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/a cycle/);
    // The first page and the looping page, once: never listed again.
    expect(tenant.listRequests).toEqual([0, 10]);
  } finally {
    await tenant.close();
  }
});

it('ids from Graph reach the terminal escaped: no escape sequence, no forged line', async () => {
  const tenant = await tenantOf(0);
  const hostile = { ...entraKey(), id: "\u001b[2J\u001b[31mevil\nmirror:entra: done: forged'/#?" };
  tenant.keys.set(hostile.id, hostile);
  try {
    const run = await mirror(tenant);
    expect(run.stderr.toLowerCase()).toContain('\\u001b[2j');
    expect(run.stdout + run.stderr).not.toContain('\u001b');
    expect((run.stdout + run.stderr).split('\n').filter((line) => line.startsWith('mirror:entra: done: forged'))).toEqual([]);
  } finally {
    await tenant.close();
  }
});

it('a listed id that is not a GUID is refused as such, not reported as a storage outage', async () => {
  const tenant = await tenantOf(2);
  const hostile = { ...entraKey(), id: "0000'/#?\u0000" };
  tenant.keys.set(hostile.id, hostile);
  try {
    const run = await mirror(tenant);
    // 1: the run is complete, and one key was not mirrored.
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("mirror:entra: key 0000'/#?\\u0000 not mirrored: Microsoft Graph listed a key id that is not a GUID");
    expect(run.stderr).not.toMatch(/unreachable|503/);
    expect(summaryOf(run)).toMatchObject({ seen: 3, imported: 2, failed: 1, reads: 2 });
  } finally {
    await tenant.close();
  }
});

it('after a 429 the whole mirror sends nothing until its Retry-After has passed, short or long', async () => {
  const tenant = await tenantOf(80);
  const ids = [...tenant.keys.keys()];
  // 2 s: waited out inside the Graph client; 4 s: longer than the client waits, waited out by the run.
  tenant.throttleFirstRead.set(ids[5], 2);
  tenant.throttleFirstRead.set(ids[50], 4);
  try {
    const run = await mirror(tenant, ['--concurrency', '4']);
    expect(run.code).toBe(0);
    expect(summaryOf(run)).toMatchObject({ seen: 80, imported: 80, failed: 0, reads: 80 });
    expect(tenant.violations).toEqual([]);
    // Counted, not timed: only the other workers' reads already on their way when the 429 was sent
    // (three at most) may arrive inside its window; before, the other workers kept reading through it.
    const arrivals = tenant.throttleWindows.map((w) => ({ windowMs: w.until - w.from, arrived: w.arrived <= 3 ? 'at most 3' : w.arrived }));
    expect(arrivals).toEqual([
      { windowMs: 2000, arrived: 'at most 3' },
      { windowMs: 4000, arrived: 'at most 3' },
    ]);
  } finally {
    await tenant.close();
  }
});

it('a key Entra holds for a device, created after a reveal of its escrowed key of the same volume type, supersedes it', async () => {
  const tenant = await startBitLockerStandIn(graphToken);
  try {
    const deviceId = newId();
    const [writer, reader, basic] = await Promise.all([
      token({ roles: [WRITE] }),
      token({ roles: [READ] }),
      token({ roles: [READ_BASIC] }),
    ]);
    const escrow = (volumeType: string) => ({ id: newId(), deviceId, volumeType, key: recoveryPassword() });
    const [disclosed, otherVolume] = [escrow('operatingSystemVolume'), escrow('fixedDataVolume')];
    for (const body of [disclosed, otherVolume]) {
      expect((await call('PATCH', `/bitlocker/recoveryKeys/${body.id}`, { token: writer, body })).status).toBe(200);
      expect((await call('GET', `/bitlocker/recoveryKeys/${body.id}?$select=key`, { token: reader })).status).toBe(200);
    }
    // Intune rotated the OS volume's protector after the reveal: Entra holds the new key.
    const rotated: EntraKey = {
      id: newId(),
      deviceId,
      volumeType: '1',
      createdDateTime: new Date().toISOString(),
      key: recoveryPassword(),
    };
    tenant.keys.set(rotated.id, rotated);

    const run = await mirror(tenant);
    expect(run.stderr).toContain(`mirror:entra: key ${disclosed.id} superseded by key ${rotated.id}, created after its disclosure`);
    const [old, other] = await Promise.all(
      [disclosed, otherVolume].map((body) => call('GET', `/bitlocker/recoveryKeys/${body.id}`, { token: basic })),
    );
    expect(old.json['@escrow.supersededBy']).toBe(rotated.id);
    expect(other.json['@escrow.supersededBy']).toBeUndefined();
  } finally {
    await tenant.close();
  }
});

it('keys seen on another GRAPH_BASE_URL are not counted as gone there, and each resumes only its own checkpoint', async () => {
  const real = await tenantOf(30);
  real.pageSize = 10;
  const other = await tenantOf(5);
  try {
    // A run of the real tenant killed in its second page leaves its checkpoint after the first.
    const cut = startScript('mirrorEntra', ['--concurrency', '1'], envFor(real), RUN_TIMEOUT_MS);
    real.onKeyRead = (count) => {
      if (count === 15) cut.kill('SIGKILL');
    };
    expect((await cut.finished).code).toBeNull();
    real.onKeyRead = undefined;

    const elsewhere = await mirror(other);
    expect(elsewhere.stderr).not.toContain('resuming run');
    expect(summaryOf(elsewhere)).toMatchObject({ seen: 5, imported: 5, gone: 0 });

    const resumed = await mirror(real);
    expect(resumed.stderr).toMatch(/^mirror:entra: resuming run [0-9a-f-]{36} .* after 1 page\(s\)$/m);
    expect(summaryOf(resumed)).toMatchObject({ gone: 0, failed: 0 });

    const [deleted] = [...real.keys.values()];
    real.keys.delete(deleted.id);
    expect(summaryOf(await mirror(real))).toMatchObject({ seen: 29, skipped: 29, reads: 0, gone: 1 });
    expect(summaryOf(await mirror(other))).toMatchObject({ seen: 5, skipped: 5, gone: 0 });
  } finally {
    await real.close();
    await other.close();
  }
});
