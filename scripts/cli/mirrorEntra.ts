import { settings } from '../../shared/config';
import { keyring } from '../../shared/crypto/keyring';
import { DEFAULT_MIRROR_BUDGET_MS, DEFAULT_MIRROR_CONCURRENCY, runEntraMirror } from '../../shared/entraMirror/mirror';
import { budgetedCommand, runCommand } from './commandLine';

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

const main = (): Promise<number> =>
  budgetedCommand(
    'mirror:entra',
    usage,
    { budgetMs: DEFAULT_MIRROR_BUDGET_MS, concurrency: DEFAULT_MIRROR_CONCURRENCY },
    () => {
      settings();
      keyring();
    },
    'Keys mirrored so far stay; the next run resumes from the checkpoint.',
    async (options) => {
      const result = await runEntraMirror(options);
      return { ...result, failed: result.counts.failed + result.counts.conflicts > 0 };
    },
  );

if (require.main === module) runCommand('mirror:entra', main);
