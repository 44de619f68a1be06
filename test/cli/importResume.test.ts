import { expect } from '@jest/globals';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzuriteTables, type RunningAzurite } from '../../scripts/devhost/azurite';
import { resetSettings } from '../../shared/config';
import { IMPORT_CHECKPOINT_PARTITION, TABLES } from '../../shared/storage/layout';
import { keySpellings, secretsIn } from '../support/audit';
import { newId, recoveryPassword } from '../support/fixtures';
import { mapLimit } from '../support/keys';
import { runScript, startScript } from '../support/scripts';
import { rawEntities } from '../support/storage';

// `npm run import` of a few thousand rows, killed outright (SIGKILL) part-way and run again: the second
// run goes on from the checkpoint, stores every row the first did not, writes no key twice and loses
// none. On an Azurite of this file's own: thousands of keys would slow every query of the shared one
// (Azurite answers a query by scanning its table).

jest.setTimeout(600_000);

const ROWS = 2_000;
const RUN_TIMEOUT_MS = 400_000;

let azurite: RunningAzurite;
let escrowed: typeof import('../support/escrowed');
let dir: string;

beforeAll(async () => {
  azurite = await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  // Before any module reads the settings: the test process reads this file's Azurite, as the script does.
  process.env.STORAGE_CONNECTION_STRING = azurite.connectionString;
  resetSettings();
  escrowed = await import('../support/escrowed');
  dir = await mkdtemp(join(tmpdir(), 'escrow-import-resume-'));
});
afterAll(() => azurite.stop());

const env = (): Record<string, string> => ({ STORAGE_CONNECTION_STRING: azurite.connectionString });

const SUMMARY =
  /^import: done: (\d+) seen, (\d+) imported, (\d+) updated, (\d+) skipped, (\d+) invalid, (\d+) conflicts, (\d+) deleted, (\d+) failed, (\d+) resumed, [\d.]+ keys\/s in [\d.]+ s$/;

function summaryOf(stdout: string) {
  const [seen, imported, updated, skipped, invalid, conflicts, deleted, failed, resumed] = SUMMARY.exec(stdout.trim())!
    .slice(1)
    .map(Number);
  return { seen, imported, updated, skipped, invalid, conflicts, deleted, failed, resumed };
}

const checkpoints = (): Promise<Record<string, unknown>[]> =>
  rawEntities(TABLES.keyImports, `PartitionKey eq '${IMPORT_CHECKPOINT_PARTITION}'`);

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it('a run killed part-way is resumed from its checkpoint: every row stored once, none lost, no key printed', async () => {
  const rows = Array.from({ length: ROWS }, () => ({ id: newId(), deviceId: newId(), key: recoveryPassword() }));
  const file = join(dir, 'keys.csv');
  await writeFile(file, ['id,deviceId,key,volumeType', ...rows.map((r) => `${r.id},${r.deviceId},${r.key},1`)].join('\n'));

  // Killed as a lost session or an OOM killer would, once the first checkpoint is saved.
  const first = startScript('import', [file, '--progress-every', '500'], env(), RUN_TIMEOUT_MS);
  let savedLine = 0;
  await until(async () => {
    const [row] = await checkpoints();
    savedLine = Number(row?.doneThrough ?? 0);
    return savedLine > 1;
  }, 'a saved checkpoint');
  first.kill('SIGKILL');
  const killed = await first.finished;
  expect(killed.code).toBeNull();
  expect(killed.stderr).toMatch(/^import: 2000 row\(s\) checked, 2000 key\(s\) to store$/m);

  const [checkpoint] = await checkpoints();
  const doneThrough = Number(checkpoint.doneThrough);
  expect(doneThrough).toBeGreaterThanOrEqual(savedLine);
  expect(doneThrough).toBeLessThan(ROWS + 1);
  // Every row up to the checkpoint's line is stored; the rows after it are whatever the kill left.
  const before = await mapLimit(rows, 16, (r) => escrowed.escrowedEtag(r.id));
  expect(before.slice(0, doneThrough - 1).filter((etag) => etag === undefined)).toEqual([]);
  const storedBefore = before.filter((etag) => etag !== undefined).length;
  expect(storedBefore).toBeLessThan(ROWS);

  const second = await runScript('import', [file], env(), RUN_TIMEOUT_MS);
  expect(second.code).toBe(0);
  expect(second.stderr).toContain(`import: resuming this file after line ${doneThrough}: an earlier run finished every row up to it`);
  // Rows up to the checkpoint are passed over unread; of the others, those the killed run stored are found
  // as they are (skipped) and the rest imported.
  expect(summaryOf(second.stdout)).toEqual({
    seen: ROWS,
    imported: ROWS - storedBefore,
    updated: 0,
    skipped: storedBefore - (doneThrough - 1),
    invalid: 0,
    conflicts: 0,
    deleted: 0,
    failed: 0,
    resumed: doneThrough - 1,
  });
  expect(
    secretsIn(
      killed.stdout + killed.stderr + second.stdout + second.stderr,
      rows.flatMap((r) => keySpellings(r.key)),
    ),
  ).toEqual([]);

  // Nothing written twice: what the first run stored is at the same version; every key is there, with its password.
  const after = await mapLimit(rows, 16, (r) => escrowed.escrowedEtag(r.id));
  expect(after.filter((etag, i) => before[i] !== undefined && etag !== before[i])).toEqual([]);
  expect(await mapLimit(rows, 16, (r) => escrowed.escrowedPassword(r.id))).toEqual(rows.map((r) => r.key));
  // A finished import leaves no checkpoint: running the file again checks every key.
  expect(await checkpoints()).toEqual([]);
});

it('Ctrl-C while rows are stored saves the checkpoint and says so in one line; the rerun resumes there, its exit code counting the rows before it', async () => {
  const rows = Array.from({ length: ROWS }, () => ({ id: newId(), deviceId: newId(), key: recoveryPassword() }));
  // Line 2's key is escrowed already with another password (a conflict), line 3 is not a key (skipped as invalid).
  const elsewhere = join(dir, 'elsewhere.csv');
  await writeFile(elsewhere, ['id,deviceId,key,volumeType', `${rows[0].id},${rows[0].deviceId},${recoveryPassword()},1`].join('\n'));
  expect((await runScript('import', [elsewhere], env(), RUN_TIMEOUT_MS)).code).toBe(0);
  const file = join(dir, 'interrupted.csv');
  const lines = rows.map((r, i) => (i === 1 ? `${r.id},${r.deviceId},not-a-key,1` : `${r.id},${r.deviceId},${r.key},1`));
  await writeFile(file, ['id,deviceId,key,volumeType', ...lines].join('\n'));
  const before = new Set((await checkpoints()).map((row) => row.rowKey));
  const mine = async () => (await checkpoints()).filter((row) => !before.has(row.rowKey));

  const first = startScript('import', [file, '--skip-invalid', '--progress-every', '500'], env(), RUN_TIMEOUT_MS);
  await until(async () => Number((await mine())[0]?.doneThrough ?? 0) > 3, 'a saved checkpoint past line 3');
  first.kill('SIGINT');
  const stopped = await first.finished;
  expect(stopped.code).toBe(130);
  expect(stopped.stderr).toContain(`import: line 2: conflict: key ${rows[0].id} is escrowed with another recovery password; left as it is`);
  const said = stopped.stdout.trimEnd().split('\n');
  expect(said).toHaveLength(1);
  const stop =
    /^import: stopped \(Ctrl-C\) after line (\d+): \d+ seen, .+\. The checkpoint is saved: run the same file again to resume\.$/.exec(
      said[0],
    );
  expect(stop).not.toBeNull();
  const doneThrough = Number(stop![1]);
  // The line it names is saved (a save already under way may have gone a few rows further).
  const saved = Number((await mine())[0].doneThrough);
  expect(saved).toBeGreaterThanOrEqual(doneThrough);
  expect(doneThrough).toBeGreaterThan(3);

  // Nothing wrong after the checkpoint, yet the file is not escrowed as it has it: the rerun says so and exits 1.
  const second = await runScript('import', [file, '--skip-invalid'], env(), RUN_TIMEOUT_MS);
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(
    `import: resuming this file after line ${saved}: an earlier run finished every row up to it (1 conflict(s) and 0 deleted key(s) among them, reported then)`,
  );
  expect(summaryOf(second.stdout)).toMatchObject({ seen: ROWS, resumed: saved - 1, failed: 0, invalid: 1, conflicts: 1, deleted: 0 });
  expect(await escrowed.escrowedPassword(rows[0].id)).not.toBe(rows[0].key);
  expect(
    secretsIn(
      stopped.stdout + stopped.stderr + second.stdout + second.stderr,
      rows.flatMap((r) => keySpellings(r.key)),
    ),
  ).toEqual([]);
});

it('a file of 50,000 keys is checked within a 24 MiB heap: the file is streamed, never held', async () => {
  // Held as objects (the reader before streaming), these rows took 36 MiB of heap and the run died of
  // heap out of memory under this cap; streamed, it holds the key id index (under 4 MiB here) and a few
  // rows. The last row is bad, so the whole file is checked and nothing is stored.
  const file = join(dir, 'large.csv');
  const out = createWriteStream(file);
  out.write('id,deviceId,key,volumeType\n');
  for (let i = 0; i < 50_000; i++) {
    if (!out.write(`${newId()},${newId()},${recoveryPassword()},1\n`)) await once(out, 'drain');
  }
  out.end(`${newId()},${newId()},496298-461032,1\n`);
  await once(out, 'finish');
  const run = await runScript('import', [file], { ...env(), NODE_OPTIONS: '--max-old-space-size=24' }, RUN_TIMEOUT_MS);
  expect(run.stderr).not.toMatch(/heap out of memory/i);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/^import: line 50002: key must be a 48-digit recovery password/m);
  expect(summaryOf(run.stdout)).toMatchObject({ seen: 50_001, imported: 0, invalid: 1 });
});
