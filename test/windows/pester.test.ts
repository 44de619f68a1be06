import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The Pester suites of test/windows (clients/windows/KeyEscrow.ps1 under PowerShell 7 against the
// compiled host), run once when this file loads, each Pester test reported as one jest test, so that
// their count and failures show in jest's totals. Synchronous on purpose: jest declares tests when the
// file loads. Everything the suites call runs in processes of its own (the stage, its host, Azurite),
// so nothing waits on this blocked process.

interface PesterRecord {
  name: string;
  result: string;
  message: string;
}

// Plain JavaScript shared with the npm scripts; required, since it has no types to import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tools } = require('../../scripts/build/tools/paths.cjs') as { tools: Record<'pwsh' | 'pester', { path: string; version: string }> };

const RUN_TIMEOUT_MS = 15 * 60_000;

function runPester(): { records: PesterRecord[]; problem?: string } {
  const missing = (['pwsh', 'pester'] as const).filter((name) => !existsSync(tools[name].path));
  if (missing.length > 0) return { records: [], problem: `${missing.join(' and ')} not installed here: run npm run setup:tools` };
  const dir = mkdtempSync(join(tmpdir(), 'escrow-pester-'));
  try {
    const resultPath = join(dir, 'results.json');
    const run = spawnSync(
      tools.pwsh.path,
      ['-NoProfile', '-NonInteractive', '-File', join(__dirname, 'run.ps1'), '-ResultPath', resultPath, '-PesterPath', tools.pester.path],
      { env: { ...process.env, ESCROW_NODE: process.execPath, ESCROW_PWSH: tools.pwsh.path }, encoding: 'utf8', timeout: RUN_TIMEOUT_MS },
    );
    if (!existsSync(resultPath)) {
      return { records: [], problem: `Pester wrote no results (exit ${run.status}):\n${run.stdout}\n${run.stderr}`.slice(-8000) };
    }
    const parsed = JSON.parse(readFileSync(resultPath, 'utf8').replace(/^\ufeff/, '')) as PesterRecord | PesterRecord[];
    return { records: Array.isArray(parsed) ? parsed : [parsed] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { records, problem } = runPester();

describe('Pester: test/windows', () => {
  if (problem !== undefined) {
    it('runs', () => {
      throw new Error(problem);
    });
  }
  if (problem === undefined && records.length === 0) {
    it('finds tests', () => {
      throw new Error('Pester ran no test');
    });
  }
  for (const record of records) {
    it(record.name, () => {
      if (record.result !== 'Passed') throw new Error(`${record.result}\n${record.message}`);
    });
  }
});
