import { expect } from '@jest/globals';
import { budgetedCommand, CommandExit, parseCommandLine, runCommand, UsageError, wholeNumber } from '../../scripts/cli/commandLine';

// The operator commands' one command-line helper (scripts/cli/commandLine.ts): what --help, a wrong
// command line and a failed run print, and the exit code each ends with.

const COMMAND = {
  tool: 'restore',
  usage: 'usage: npm run restore -- <snapshot name> [--force]',
  options: { force: { type: 'boolean' }, 'page-size': { type: 'string' } },
  allowPositionals: true,
} as const;

let stderr: string[];
let savedExitCode: typeof process.exitCode;
beforeEach(() => {
  stderr = [];
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  savedExitCode = process.exitCode;
});
afterEach(() => {
  jest.restoreAllMocks();
  process.exitCode = savedExitCode;
});

/** What parseCommandLine answered or the exit it ended with, and what it wrote to stderr. */
function outcomeOf(run: () => unknown): { answer?: unknown; exitCode?: number; stderr: string } {
  const from = stderr.length;
  const written = () => stderr.slice(from).join('');
  try {
    return { answer: run(), stderr: written() };
  } catch (error) {
    if (!(error instanceof CommandExit)) throw error;
    return { exitCode: error.code, stderr: written() };
  }
}

describe('parseCommandLine', () => {
  const checkRestore = ({ values, positionals }: { values: { force?: boolean; 'page-size'?: string }; positionals: string[] }) => {
    if (positionals.length !== 1) throw new UsageError('name one snapshot');
    return { name: positionals[0], force: values.force === true, pageSize: wholeNumber(values['page-size'], '--page-size', 100, 1) };
  };

  it('answers what check makes of the options and arguments, writing nothing', () => {
    expect(outcomeOf(() => parseCommandLine(COMMAND, checkRestore, ['snap-1', '--force', '--page-size', '7']))).toEqual({
      answer: { name: 'snap-1', force: true, pageSize: 7 },
      stderr: '',
    });
  });

  it('--help writes the usage line and ends with 0, whatever else is on the line', () => {
    const check = jest.fn(checkRestore);
    expect(outcomeOf(() => parseCommandLine(COMMAND, check, ['--help', 'a', 'b']))).toEqual({
      exitCode: 0,
      stderr: 'usage: npm run restore -- <snapshot name> [--force]\n',
    });
    expect(check).not.toHaveBeenCalled();
  });

  it('an unknown option, a missing value or a stray argument: the tool, why, the usage line, and 2', () => {
    const runs = [['--forse'], ['snap-1', '--page-size']].map((args) => outcomeOf(() => parseCommandLine(COMMAND, checkRestore, args)));
    const stray = outcomeOf(() => parseCommandLine({ ...COMMAND, allowPositionals: false }, () => 'parsed', ['snap-1']));
    expect([...runs, stray]).toEqual([
      {
        exitCode: 2,
        stderr: expect.stringMatching(/^restore: Unknown option '--forse'.*\nusage: npm run restore -- <snapshot name> \[--force\]\n$/s),
      },
      { exitCode: 2, stderr: expect.stringMatching(/^restore: Option '--page-size <value>' argument missing\nusage: npm run restore/) },
      { exitCode: 2, stderr: expect.stringMatching(/^restore: Unexpected argument 'snap-1'.*\nusage: npm run restore/s) },
    ]);
  });

  it("check's UsageError: its message, masked, then the usage line, and 2", () => {
    const password = '123456-234567-345678-456789-567890-678901-789012-890123';
    const check = (): never => {
      throw new UsageError(`--now takes an ISO 8601 date and time, not '${password}'`);
    };
    expect(outcomeOf(() => parseCommandLine(COMMAND, check, []))).toEqual({
      exitCode: 2,
      stderr:
        "restore: --now takes an ISO 8601 date and time, not '[recovery password]'\nusage: npm run restore -- <snapshot name> [--force]\n",
    });
  });

  it('any other error of check passes through as it is, and nothing is written', () => {
    const settingsProblem = new Error('ENCRYPTION_ACTIVE_KEY must name the key version');
    expect(() =>
      parseCommandLine(COMMAND, () => {
        throw settingsProblem;
      }),
    ).toThrow(settingsProblem);
    expect(stderr).toEqual([]);
  });
});

describe('runCommand', () => {
  /** Runs `main` through runCommand and waits for it to settle. */
  async function exitOf(main: () => Promise<number>): Promise<{ exitCode: typeof process.exitCode; stderr: string }> {
    process.exitCode = undefined;
    runCommand('backup', main);
    await new Promise((resolve) => setImmediate(resolve));
    return { exitCode: process.exitCode, stderr: stderr.join('') };
  }

  it("sets the exit code main answers, a CommandExit's code silently, and 2 with the masked reason for any other throw", async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    expect(await exitOf(() => Promise.resolve(3))).toEqual({ exitCode: 3, stderr: '' });
    expect(await exitOf(() => Promise.reject(new CommandExit(0)))).toEqual({ exitCode: 0, stderr: '' });
    expect(await exitOf(() => Promise.reject(new Error(`storage refused ${token}`)))).toEqual({
      exitCode: 2,
      stderr: 'backup: storage refused [token]\n',
    });
  });
});

describe('budgetedCommand', () => {
  const DEFAULTS = { budgetMs: 60_000, concurrency: 4 };

  /** A budgeted command over `args`, its run answering `outcome`; what the run was given, and how it ended. */
  async function budgeted(args: string[], outcome: { summary: string; complete: boolean; failed?: boolean }) {
    const argv = process.argv;
    process.argv = [argv[0], 'inventory.js', ...args];
    const run = jest.fn((_options: { budgetMs: number; concurrency: number; progressEveryMs: number }) => Promise.resolve(outcome));
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const code = await budgetedCommand('inventory', 'usage: npm run inventory', DEFAULTS, () => undefined, 'Pages stay.', run);
      return { code, given: run.mock.calls.map(([options]) => options), stdout: stdout.mock.calls.map(([chunk]) => String(chunk)) };
    } catch (error) {
      if (!(error instanceof CommandExit)) throw error;
      return { code: error.code, given: run.mock.calls.map(([options]) => options), stderr: stderr.join('') };
    } finally {
      process.argv = argv;
    }
  }

  it('runs with the checked options and ends 0 complete, 3 at its budget, 1 with failures; a bad option never runs it', async () => {
    expect(await budgeted(['--budget', '5', '--concurrency', '2'], { summary: 'inventory: done', complete: true })).toEqual({
      code: 0,
      given: [{ budgetMs: 5_000, concurrency: 2, progressEveryMs: 2_000 }],
      stdout: ['inventory: done\n'],
    });
    expect((await budgeted([], { summary: 's', complete: false })).code).toBe(3);
    expect((await budgeted([], { summary: 's', complete: true, failed: true })).code).toBe(1);
    expect(await budgeted(['--budget', '0'], { summary: 's', complete: true })).toEqual({
      code: 2,
      given: [],
      stderr: 'inventory: --budget takes a whole number of at least 1\nusage: npm run inventory\n',
    });
  });
});
