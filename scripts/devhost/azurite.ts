// Azurite's table service (and, for backups, its blob service) as a child process, for `npm start` and the tests.
//
// A child rather than the programmatic TableServer: Azurite's telemetry client and its global
// logger live in module state, and a child can be stopped and restarted on the same port and
// folder without leaking any of that into the caller.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

export const AZURITE_HOST = '127.0.0.1';
export const AZURITE_DEFAULT_TABLE_PORT = 10002;
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
// The well-known development-storage key, published by Microsoft; it protects nothing.
export const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_CHARS = 4_000;

export interface AzuriteTablesOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Keep data in memory only; otherwise `location` is required. */
  inMemory: boolean;
  /** Folder for persisted data (created if missing); reuse it to keep data across restarts. */
  location?: string;
  /** Default true: no access log. When false, Azurite's output is copied to our stderr. */
  silent?: boolean;
  startTimeoutMs?: number;
  /**
   * Serve https with this PEM certificate and key (both file paths) and check bearer tokens the way
   * Azurite's `--oauth basic` does (issuer, audience, lifetime; not the signature). Azurite accepts
   * bearer tokens only over https.
   */
  oauth?: { cert: string; key: string };
}

export interface RunningAzurite {
  readonly port: number;
  readonly connectionString: string;
  /** `http(s)://127.0.0.1:{port}/devstoreaccount1`: the table endpoint, for STORAGE_TABLE_ENDPOINT. */
  readonly tableEndpoint: string;
  /** Stops Azurite gracefully (it saves its data) and resolves once the process has exited. */
  stop(): Promise<void>;
}

export function azuriteConnectionString(port: number, scheme: 'http' | 'https' = 'http'): string {
  return (
    `DefaultEndpointsProtocol=${scheme};AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
    `TableEndpoint=${scheme}://${AZURITE_HOST}:${port}/${DEV_ACCOUNT_NAME};`
  );
}

/** Azurite's services this module starts, each its own process (Azurite ships a main per service). */
type AzuriteService = 'table' | 'blob';

function azuriteMain(service: AzuriteService): string {
  return path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', service, 'main.js');
}

/** Azurite's blob service, for the backup container (BACKUP_CONNECTION_STRING). */
export interface RunningAzuriteBlobs {
  readonly port: number;
  readonly connectionString: string;
  /** `http://127.0.0.1:{port}/devstoreaccount1`: the blob endpoint. */
  readonly blobEndpoint: string;
  stop(): Promise<void>;
}

export function azuriteBlobConnectionString(port: number): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
    `BlobEndpoint=http://${AZURITE_HOST}:${port}/${DEV_ACCOUNT_NAME};`
  );
}

/** A port that was free a moment ago (there is a small race, acceptable for local use). */
export function findFreePort(host = AZURITE_HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function acceptsConnections(port: number, host = AZURITE_HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether an Azure Table endpoint answers on 127.0.0.1:port. Any storage response counts, even an
 * authorization failure: every Azure Storage answer carries x-ms-request-id, other servers don't.
 */
export function tableServiceAnswers(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: AZURITE_HOST, port, path: `/${DEV_ACCOUNT_NAME}/Tables`, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.headers['x-ms-request-id'] !== undefined);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startAzuriteTables(options: AzuriteTablesOptions): Promise<RunningAzurite> {
  const { port, stop } = await startAzuriteService('table', options);
  const scheme = options.oauth ? 'https' : 'http';
  return {
    port,
    connectionString: azuriteConnectionString(port, scheme),
    tableEndpoint: `${scheme}://${AZURITE_HOST}:${port}/${DEV_ACCOUNT_NAME}`,
    stop,
  };
}

/** Azurite's blob service, with the table service's options (no oauth). */
export async function startAzuriteBlobs(options: Omit<AzuriteTablesOptions, 'oauth'>): Promise<RunningAzuriteBlobs> {
  const { port, stop } = await startAzuriteService('blob', options);
  return {
    port,
    connectionString: azuriteBlobConnectionString(port),
    blobEndpoint: `http://${AZURITE_HOST}:${port}/${DEV_ACCOUNT_NAME}`,
    stop,
  };
}

async function startAzuriteService(
  service: AzuriteService,
  options: AzuriteTablesOptions,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const silent = options.silent ?? true;
  if (options.inMemory && options.location !== undefined) {
    throw new Error('startAzurite: choose inMemory or a location, not both');
  }
  if (!options.inMemory && options.location === undefined) {
    // Azurite would otherwise write into the current directory.
    throw new Error('startAzurite: a location is required unless inMemory is set');
  }
  const port = options.port === undefined || options.port === 0 ? await findFreePort() : options.port;
  // Otherwise the readiness check below would mistake the squatter for Azurite.
  if (await acceptsConnections(port)) {
    throw new Error(`Cannot start Azurite: something already listens on ${AZURITE_HOST}:${port}`);
  }

  const args = [
    azuriteMain(service),
    `--${service}Host`,
    AZURITE_HOST,
    `--${service}Port`,
    String(port),
    '--disableTelemetry',
    '--skipApiVersionCheck',
  ];
  if (options.location !== undefined) {
    const location = path.resolve(options.location);
    fs.mkdirSync(location, { recursive: true });
    args.push('--location', location);
  } else {
    args.push('--inMemoryPersistence');
  }
  if (silent) args.push('--silent');
  if (options.oauth) args.push('--oauth', 'basic', '--cert', path.resolve(options.oauth.cert), '--key', path.resolve(options.oauth.key));

  // Detached: a Ctrl-C in the terminal must not reach Azurite directly, or our own graceful stop
  // would deliver a second SIGINT, which Azurite does not handle and which kills it mid-save.
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });

  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    if (!silent) process.stderr.write(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  // Detached children outlive a parent that forgets them; don't leave one holding the port.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const childExit = exited(child).then(() => {
    process.off('exit', killOnExit);
  });

  const deadline = Date.now() + (options.startTimeoutMs ?? START_TIMEOUT_MS);
  for (;;) {
    if (spawnError) throw new Error(`Could not start Azurite: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Azurite exited before listening on ${AZURITE_HOST}:${port}:\n${output.trim()}`);
    }
    if (await acceptsConnections(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await childExit;
      throw new Error(
        `Azurite did not listen on ${AZURITE_HOST}:${port} within ${options.startTimeoutMs ?? START_TIMEOUT_MS} ms:\n${output.trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGINT is Azurite's graceful path: it closes the server and saves the database.
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await childExit;
      clearTimeout(timer);
    })();
    return stopping;
  };

  return { port, stop };
}
