import { parseArgs } from 'node:util';
import { describeError, runCommand, stderrLine, UsageError, wholeNumber } from '../shared/adoption/commandLine';
import { DEFAULT_PROGRESS_EVERY_MS } from '../shared/adoption/progress';
import { settings } from '../shared/config';
import { keyring } from '../shared/crypto/keyring';
import { DEFAULT_MIRROR_BUDGET_MS, DEFAULT_MIRROR_CONCURRENCY, type MirrorOptions, runEntraMirror } from '../shared/entraMirror/mirror';

// `npm run mirror:entra`: one run of the Entra mirror on demand (docs/adoption.md), the same job as
// the timer function (functions/entraMirror.ts).
//
// Settings are the service's own (shared/config): GRAPH_BASE_URL, STORAGE_CONNECTION_STRING,
// ENCRYPTION_KEYS / ENCRYPTION_ACTIVE_KEY (or AUTH_MODE=local for the development key); the Graph
// token comes from DefaultAzureCredential (a managed identity, or `az login` on a workstation) and needs
// BitLockerKey.Read.All (and Device.Read.All) as application permissions.
//
// - Output: progress on stderr (at most every ~2 s), one summary line on stdout. Key ids and counts are
//   printed; never a key or a token.
// - Exit code: 0 when the run listed every key and mirrored each; 1 when some keys were not mirrored
//   (failed reads or writes, conflicts: each named on stderr); 2 when the run could not go on (usage,
//   settings, no Graph token, Graph or storage unavailable past every retry); 3 when it stopped at its
//   time budget: run it again to continue from the checkpoint.

const usage = 'usage: npm run mirror:entra [-- --budget SECONDS] [--concurrency N] [--progress-every MS]';

async function main(): Promise<number> {
  let options: MirrorOptions;
  try {
    const { values } = parseArgs({
      options: {
        budget: { type: 'string' },
        concurrency: { type: 'string' },
        'progress-every': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
    if (values.help) {
      stderrLine(usage);
      return 0;
    }
    options = {
      budgetMs: wholeNumber(values.budget, '--budget', DEFAULT_MIRROR_BUDGET_MS / 1000, 1) * 1000,
      concurrency: wholeNumber(values.concurrency, '--concurrency', DEFAULT_MIRROR_CONCURRENCY, 1),
      progressEveryMs: wholeNumber(values['progress-every'], '--progress-every', DEFAULT_PROGRESS_EVERY_MS, 0),
    };
    // Bad settings stop here, by name, never by value.
    settings();
    keyring();
  } catch (error) {
    stderrLine(`mirror:entra: ${describeError(error)}${error instanceof UsageError ? `\n${usage}` : ''}`);
    return 2;
  }

  let result;
  try {
    result = await runEntraMirror(options);
  } catch (error) {
    stderrLine(`mirror:entra: stopped: ${describeError(error)}. Keys mirrored so far stay; the next run resumes from the checkpoint.`);
    return 2;
  }
  process.stdout.write(`${result.summary}\n`);
  if (result.counts.failed + result.counts.conflicts > 0) return 1;
  return result.complete ? 0 : 3;
}

if (require.main === module) runCommand('mirror:entra', main);
