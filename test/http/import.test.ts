import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_READ, auditsOf, auditsPath, detailOf, keySpellings, readAllAudits, secretsIn } from '../support/audit';
import { call, token, WRITE } from '../support/client';
import { escrowedEtag, escrowedPassword } from '../support/escrowed';
import { keyBody, newId, recoveryPassword } from '../support/fixtures';
import { mapLimit } from '../support/keys';
import { runScript, type ScriptRun } from '../support/scripts';

// `npm run import`: a CSV export (MBAM, manage-bde) into the escrow, against the run's Azurite, as a
// child process whose whole output is searched for every key of its file.

jest.setTimeout(200_000);

interface Row {
  id: string;
  deviceId: string;
  key: string;
  volumeType: string;
  createdDateTime: string;
}

const newRow = (overrides: Partial<Row> = {}): Row => ({
  id: newId(),
  deviceId: newId(),
  key: recoveryPassword(),
  volumeType: 'operatingSystemVolume',
  createdDateTime: '2024-03-01T08:30:00Z',
  ...overrides,
});

/** MBAM and manage-bde print ids braced and upper-case. */
const mbamId = (id: string): string => `{${id.toUpperCase()}}`;

const HEADER = 'Id,DeviceID,KEY,VolumeType,CreatedDateTime';
const csvLine = (r: Row): string => [r.id, r.deviceId, r.key, r.volumeType, r.createdDateTime].join(',');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'escrow-import-'));
});

/** Writes a CSV (with a BOM and CRLF, as Windows tools save them) and returns its path. */
async function csvFile(name: string, lines: string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `\ufeff${lines.join('\r\n')}\r\n`);
  return path;
}

const runImport = (path: string, ...args: string[]): Promise<ScriptRun> => runScript('import', [path, ...args], {}, 90_000);

const SUMMARY =
  /^import: done: (\d+) seen, (\d+) imported, (\d+) updated, (\d+) skipped, (\d+) invalid, (\d+) conflicts, (\d+) deleted, (\d+) failed, (\d+) resumed, [\d.]+ keys\/s in [\d.]+ s$/;

const PROGRESS = /^import: \d+ seen, \d+ imported, .* keys\/s(, \d+ to go(, about \d+ s left)?)?$/;
/** The line between the check of the file and the storing of its rows. */
const CHECKED = /^import: (\d+ row\(s\) checked, \d+ key\(s\) to store|checking the file: \d+ row\(s\) read)$/;

function summaryOf(run: ScriptRun) {
  const lines = run.stdout.trim().split('\n');
  expect(lines).toEqual([expect.stringMatching(SUMMARY)]);
  const [seen, imported, updated, skipped, invalid, conflicts, deleted, failed, resumed] = SUMMARY.exec(lines[0])!.slice(1).map(Number);
  return { seen, imported, updated, skipped, invalid, conflicts, deleted, failed, resumed };
}

/** Every spelling of every password that must not be printed, found in the run's output. */
const leakedKeys = (run: ScriptRun, rows: Row[]): string[] =>
  secretsIn(
    run.stdout + run.stderr,
    rows.flatMap((r) => keySpellings(r.key)),
  );

const passwordsOf = (rows: Row[]): Promise<(string | undefined)[]> => mapLimit(rows, 8, (r) => escrowedPassword(r.id));

describe('npm run import', () => {
  const rows = Array.from({ length: 60 }, (_, i) => newRow({ volumeType: i % 2 ? '2' : 'operatingSystemVolume' }));
  let file: string;

  beforeAll(async () => {
    file = await csvFile('mbam.csv', [
      HEADER,
      ...rows.map((r, i) => csvLine(i % 3 ? r : { ...r, id: mbamId(r.id), deviceId: mbamId(r.deviceId) })),
    ]);
  });

  it('stores every row with its password (braced, upper-case ids too), audited as an import from a file, printing no key', async () => {
    const run = await runImport(file);
    expect(run.code).toBe(0);
    // Progress lines only: no row was refused or failed.
    expect(run.stderr.split('\n').filter((l) => l && !PROGRESS.test(l) && !CHECKED.test(l))).toEqual([]);
    expect(summaryOf(run)).toEqual({
      seen: 60,
      imported: 60,
      updated: 0,
      skipped: 0,
      invalid: 0,
      conflicts: 0,
      deleted: 0,
      failed: 0,
      resumed: 0,
    });
    expect(leakedKeys(run, rows)).toEqual([]);
    expect(await passwordsOf(rows)).toEqual(rows.map((r) => r.key));

    const [first] = await auditsOf(rows[0].id, await token({ roles: [AUDIT_READ] }));
    expect(first).toMatchObject({ activityDisplayName: 'Import BitLocker key', operationType: 'Add', result: 'success' });
    expect(detailOf(first, 'Source')).toBe('file');
    expect(detailOf(first, 'User-Agent')).toMatch(/^bitlocker-key-escrow-import\//);
  });

  it('a second import of the same file writes nothing and says every row was skipped', async () => {
    const before = await mapLimit(rows, 8, (r) => escrowedEtag(r.id));
    const run = await runImport(file);
    expect(run.code).toBe(0);
    expect(summaryOf(run)).toEqual({
      seen: 60,
      imported: 0,
      updated: 0,
      skipped: 60,
      invalid: 0,
      conflicts: 0,
      deleted: 0,
      failed: 0,
      resumed: 0,
    });
    expect(await mapLimit(rows, 8, (r) => escrowedEtag(r.id))).toEqual(before);
  });
});

describe('bad rows', () => {
  const good = [newRow(), newRow(), newRow()];
  const badGroup = newRow({ key: '111112-461032-321464-595518-463221-173943-033616-139579' });
  const shortKey = newRow({ key: '496298-461032-321464' });
  const badId = newRow({ id: 'not-a-guid' });
  const duplicate = newRow({ id: good[0].id });
  const all = [...good, badGroup, shortKey, badId, duplicate];
  let file: string;

  beforeAll(async () => {
    file = await csvFile('bad.csv', [
      HEADER,
      csvLine(good[0]), // line 2
      csvLine(badGroup), // 3
      csvLine(good[1]), // 4
      csvLine(shortKey), // 5
      `${badId.id},${badId.deviceId},${badId.key},1`, // 6: no createdDateTime cell at all
      csvLine(duplicate), // 7
      `${newId()},,${recoveryPassword()},1,2024-01-01T00:00:00Z`, // 8: no deviceId
      csvLine(good[2]), // 9
    ]);
  });

  it('are each reported with line and reason, without their key, and nothing is stored', async () => {
    const run = await runImport(file);
    expect(run.code).toBe(1);
    expect(leakedKeys(run, all)).toEqual([]);
    expect(run.stderr).toMatch(/^import: line 3: key is not a valid recovery password: group 1 must be divisible by 11/m);
    expect(run.stderr).toMatch(/^import: line 5: key must be a 48-digit recovery password/m);
    expect(run.stderr).toMatch(/^import: line 6: .*field/m);
    expect(run.stderr).toMatch(new RegExp(`^import: line 7: key id ${good[0].id} is also on line 2, with other values$`, 'm'));
    expect(run.stderr).toMatch(/^import: line 8: deviceId is required/m);
    expect(run.stderr).toMatch(/nothing stored/);
    expect(summaryOf(run)).toMatchObject({ seen: 8, imported: 0, invalid: 5 });
    expect(await passwordsOf(good)).toEqual([undefined, undefined, undefined]);
  });

  it('with --skip-invalid the good rows are stored, the bad ones reported, and the exit code still says so', async () => {
    const run = await runImport(file, '--skip-invalid');
    expect(run.code).toBe(1);
    expect(leakedKeys(run, all)).toEqual([]);
    expect(summaryOf(run)).toMatchObject({ seen: 8, imported: 3, invalid: 5, failed: 0 });
    expect(await passwordsOf(good)).toEqual(good.map((r) => r.key));
  });
});

it('a key id escrowed with another password is a conflict: reported, left as it is', async () => {
  const escrowed = keyBody();
  const response = await call('PATCH', '/bitlocker/recoveryKeys', { token: await token({ roles: [WRITE] }), body: escrowed });
  expect(response.status).toBe(200);
  const clash = newRow({ id: escrowed.id!, deviceId: escrowed.deviceId!, volumeType: '1' });
  const fresh = newRow();
  const run = await runImport(await csvFile('conflict.csv', [HEADER, csvLine(clash), csvLine(fresh)]));
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`line 2: conflict: key ${escrowed.id} is escrowed with another recovery password; left as it is`);
  expect(secretsIn(run.stdout + run.stderr, [...keySpellings(clash.key), ...keySpellings(escrowed.key!)])).toEqual([]);
  expect(summaryOf(run)).toMatchObject({ imported: 1, conflicts: 1 });
  expect(await escrowedPassword(escrowed.id!)).toBe(escrowed.key);
  expect(await escrowedPassword(fresh.id)).toBe(fresh.key);
});

it('header names of ignored columns are printed masked and with control characters escaped', async () => {
  const pasted = recoveryPassword();
  const fresh = newRow();
  const run = await runImport(await csvFile('header.csv', [`${HEADER},${pasted},\u001b[31mRED\u001b[0m`, `${csvLine(fresh)},x,y`]));
  expect(run.code).toBe(0);
  const line = run.stderr.split('\n').find((l) => l.startsWith('import: ignoring columns'));
  expect(line).toBeDefined();
  expect(line).not.toContain('\u001b');
  expect(line!.toLowerCase()).toContain('\\u001b[31mred');
  expect(secretsIn(run.stderr, keySpellings(pasted))).toEqual([]);
});

it('each run leaves an audit record naming the command and the account that ran it', async () => {
  const startedAt = new Date().toISOString();
  const run = await runImport(await csvFile('audited.csv', [HEADER, csvLine(newRow())]));
  expect(run.code).toBe(0);
  const filter = `activityDisplayName eq 'Run BitLocker key administration command' and activityDateTime ge ${startedAt}`;
  const { events } = await readAllAudits(auditsPath({ $filter: filter }), await token({ roles: [AUDIT_READ] }));
  const runs = events.filter((event) => event.resultReason.startsWith('Started: npm run import'));
  expect(runs).toHaveLength(1);
  expect(runs[0].resultReason).toMatch(/^Started: npm run import, run by [^@\s]+@\S+\.$/);
});

it('a key id of a deleted key is reported as deleted, not as a conflict, and the deleted key is left as it is', async () => {
  const writer = await token({ roles: [WRITE] });
  const deleted = keyBody();
  expect((await call('PATCH', '/bitlocker/recoveryKeys', { token: writer, body: deleted })).status).toBe(200);
  expect((await call('DELETE', `/bitlocker/recoveryKeys/${deleted.id}`, { token: writer })).status).toBe(204);
  // The same password as the deleted key's, and another one: neither is a "conflict".
  const same = newRow({ id: deleted.id!, deviceId: deleted.deviceId!, key: deleted.key! });
  const other = newRow({ id: deleted.id! });
  for (const row of [same, other]) {
    const run = await runImport(await csvFile('deleted.csv', [HEADER, csvLine(row)]));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`line 2: key ${deleted.id} is a deleted key here; restore or purge it to import it; left as it is`);
    expect(run.stderr).not.toContain('conflict');
    expect(summaryOf(run)).toMatchObject({ seen: 1, imported: 0, conflicts: 0, deleted: 1, failed: 0 });
    expect(secretsIn(run.stdout + run.stderr, [...keySpellings(row.key), ...keySpellings(deleted.key!)])).toEqual([]);
  }
  expect((await call('GET', `/bitlocker/recoveryKeys/${deleted.id}`, { token: writer })).status).toBe(404);
  const kept = await call('GET', `/directory/deletedItems/${deleted.id}`, { token: writer });
  expect({ status: kept.status, deviceId: kept.json.deviceId }).toEqual({ status: 200, deviceId: deleted.deviceId });
});

describe('files that are not key exports stop the import (exit 2) before anything is stored', () => {
  it.each([
    ['a required column is missing', ['id,deviceId,volumeType', `${newId()},${newId()},1`], /no column key/],
    [
      'the quoting is malformed',
      [HEADER, `"${newId()},${newId()},"${recoveryPassword()}"x,1,2024-01-01T00:00:00Z`],
      /malformed CSV \(CSV_\w+\)/,
    ],
    [
      'a quote is never closed',
      [HEADER, `${newId()},"${newId()},${recoveryPassword()},1,2024-01-01T00:00:00Z`],
      /malformed CSV \(CSV_\w+\)/,
    ],
  ])('%s', async (name, lines, message) => {
    const run = await runImport(await csvFile(`${name.replace(/\W/g, '-')}.csv`, lines));
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(message);
    // Said while checking: nothing was stored, so nothing "stays stored".
    expect(run.stderr).toMatch(/^import: stopped while checking the file: .+\. Nothing is stored; fix the file and rerun\.$/m);
    expect(run.stderr).not.toContain('stay stored');
    expect(run.stderr).not.toMatch(/\d{6}-\d{6}/);
  });

  it('a file that does not exist', async () => {
    const run = await runImport(join(dir, 'nowhere.csv'));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot read .*nowhere\.csv \(ENOENT\)/);
  });
});
