// `npm start`: the app on the local host, with an embedded Azurite when the settings point at
// development storage and none is running. Prints one line on stdout once ready (tests wait for it);
// everything else goes to stderr.

import * as path from 'node:path';
import { DEVELOPMENT_STORAGE, isLoopbackHostname, settings } from '../../shared/config';
import { AZURITE_DEFAULT_TABLE_PORT, startAzuriteTables, tableServiceAnswers, type RunningAzurite } from './azurite';
import { flushLog } from './host/hostLog';
import { startHost, type RunningHost } from './host/server';

/**
 * True when the connection string means the local development storage on 127.0.0.1:10002, the one
 * an embedded Azurite can stand in for. Other local ports are left alone on purpose: a test may
 * point at a dead port to see the app cope with storage being down.
 */
export function usesDevelopmentStorage(connectionString: string): boolean {
  const fields = new Map<string, string>();
  for (const field of connectionString.split(';')) {
    const at = field.indexOf('=');
    if (at > 0) fields.set(field.slice(0, at).trim().toLowerCase(), field.slice(at + 1).trim());
  }
  if (connectionString.trim().toLowerCase() === DEVELOPMENT_STORAGE.toLowerCase()) return true;
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') return true;
  const endpoint = fields.get('tableendpoint');
  if (endpoint === undefined) return false;
  try {
    const url = new URL(endpoint);
    return isLoopbackHostname(url.hostname) && Number(url.port) === AZURITE_DEFAULT_TABLE_PORT;
  } catch {
    return false;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function main(): Promise<void> {
  // The local host is a development tool that Azure never runs: here AUTH_MODE defaults to local, so
  // that a fresh clone answers tokens from `npm run token`. Set in the environment, not in a module's
  // state: the app the host loads is a bundle with its own copy of shared/config.ts.
  if (!process.env.AUTH_MODE?.trim()) process.env.AUTH_MODE = 'local';
  const config = settings();

  let azurite: RunningAzurite | undefined;
  // Never the connection string itself: it holds a key.
  let storage =
    config.storage.tableEndpoint !== undefined ? 'STORAGE_TABLE_ENDPOINT with DefaultAzureCredential' : 'from STORAGE_CONNECTION_STRING';
  if (config.storage.connectionString !== undefined && usesDevelopmentStorage(config.storage.connectionString)) {
    const where = `127.0.0.1:${AZURITE_DEFAULT_TABLE_PORT}`;
    if (await tableServiceAnswers(AZURITE_DEFAULT_TABLE_PORT)) {
      storage = `development storage already running on ${where}`;
    } else {
      azurite = await startAzuriteTables({
        port: AZURITE_DEFAULT_TABLE_PORT,
        inMemory: false,
        location: path.resolve(config.localStateDir, 'azurite'),
        silent: true,
      });
      storage = `embedded Azurite on ${where}`;
    }
  }

  let host: RunningHost;
  try {
    host = await startHost({ port: config.port });
  } catch (err) {
    await azurite?.stop();
    throw err;
  }

  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      // A second signal means "now": Azurite is killed by its exit hook.
      process.stderr.write(`[host] ${signal} again; exiting without waiting\n`);
      process.exit(1);
    }
    shuttingDown = true;
    void (async () => {
      try {
        await host.close();
        await azurite?.stop();
        await flushLog();
        process.exit(0);
      } catch (err) {
        process.stderr.write(`[host] error while stopping: ${describe(err)}\n`);
        process.exit(1);
      }
    })();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, shutdown);

  const auth = config.auth.mode === 'local' ? 'local development tokens (npm run token)' : 'Entra ID tokens';
  process.stdout.write(`BitLocker key escrow listening on ${host.url} (storage: ${storage}; auth: ${auth})\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`[host] could not start: ${describe(err)}\n`);
    process.exit(1);
  });
}
