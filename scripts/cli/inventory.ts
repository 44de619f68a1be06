import { settings } from '../../shared/config';
import { DEFAULT_INVENTORY_BUDGET_MS, DEFAULT_INVENTORY_CONCURRENCY, runInventory } from '../../shared/inventory/run';
import { budgetedCommand, runCommand } from './commandLine';

// `npm run inventory`: one run of the device inventory (docs/coverage.md), the same job as the timer
// function (functions/inventory.ts). Reads Entra ID's and Intune's Windows devices through Microsoft
// Graph with DefaultAzureCredential (the managed identity; Device.Read.All and
// DeviceManagementManagedDevices.Read.All as application permissions) into DeviceInventory.
//
// Output: progress on stderr, one summary line on stdout. Exit code 0 when both lists were read to the
// end; 2 when the run could not go on (usage, settings, no Graph token, Graph or storage unavailable);
// 3 when it stopped at its time budget: run it again to continue from the checkpoint.

const usage = 'usage: npm run inventory [-- --budget SECONDS] [--concurrency N] [--progress-every MS]';

const main = (): Promise<number> =>
  budgetedCommand(
    'inventory',
    usage,
    { budgetMs: DEFAULT_INVENTORY_BUDGET_MS, concurrency: DEFAULT_INVENTORY_CONCURRENCY },
    settings,
    'Pages stored so far stay; the next run resumes from the checkpoint.',
    runInventory,
  );

if (require.main === module) runCommand('inventory', main);
