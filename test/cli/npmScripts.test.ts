import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The npm scripts run their compiled programs through scripts/devhost/runCompiled.cjs. A script does its work
// only as the main module (require.main === module), so the runner must start it as its own process:
// these run the commands as a user types them and check that each one did something and said so.

const ROOT = join(__dirname, '..', '..');
const runner = (name: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'devhost', 'runCompiled.cjs'), name, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });

describe('npm scripts through scripts/devhost/runCompiled.cjs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'escrow-npm-scripts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('import runs: a missing file is exit code 2 with the reason, not a silent 0', () => {
    const run = runner('cli/import', [join(dir, 'missing.csv')], { AUTH_MODE: 'local' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/cannot read .*missing\.csv/);
  });

  it('import refuses a file with a bad row, naming its line', async () => {
    const file = join(dir, 'keys.csv');
    // One row that fails validation: the whole file is refused (exit 1) and the line is named.
    await writeFile(file, 'id,deviceId,key,volumeType\nnot-a-guid,also-not,123,1\n');
    const run = runner('cli/import', [file], { AUTH_MODE: 'local' });
    expect(run.status).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/line 2/);
  });

  it('token prints a token and nothing else', () => {
    const run = runner('cli/token', ['--roles', 'BitLockerKey.ReadBasic.All']);
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('windows-scripts writes the two Intune scripts', async () => {
    const run = runner('build/windowsScripts', ['--url', 'https://escrow.example.net/escrow/', '--out', dir]);
    expect(run.status).toBe(0);
    const remediate = await readFile(join(dir, 'Remediate-KeyEscrow.ps1'));
    // No BOM (Intune's signature check wants UTF-8 without one), and the base path is kept.
    expect([...remediate.subarray(0, 3)]).not.toEqual([0xef, 0xbb, 0xbf]);
    expect(remediate.toString('ascii')).toContain("[string]$ServiceUrl = 'https://escrow.example.net/escrow'");
  });
});
