// The one starter of the local host for anything that is not `npm start` itself: the tests (the run's
// shared host, private hosts with their own settings, the fuzz run's host) and the benchmark. Lives
// beside azurite.ts, the starter of the storage they run against, so that scripts/bench can use it
// without depending on jest, and the tests can use it without the benchmark.
//
// Two ways, for two needs:
// - startLocalHost: the compiled app as `npm start` runs it (dist/scripts/devhost/start.js, so build first), in
//   a child process with the caller's environment plus overrides. Each host has its own settings and
//   its own module state, and its log is captured apart from the caller's.
// - startLocalHostInProcess: the same host (scripts/devhost/host/server.ts) in the calling process, for the
//   benchmark, whose storage request counter sees only its own process's requests.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { RunningHost } from './host/server';

// Compiled, this file sits beside start.js in dist/scripts/devhost; run from source (ts-jest) it is
// scripts/devhost/localHost.ts, and the compiled start script is the build's.
const START_SCRIPT = __filename.endsWith('.js')
  ? join(__dirname, 'start.js')
  : join(__dirname, '..', '..', 'dist', 'scripts', 'devhost', 'start.js');
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 8_000;
/** What start.ts prints on stdout once it is ready: the line callers wait for. */
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** Environment overrides; `undefined` removes a variable the calling process has. */
export type EnvOverrides = Record<string, string | undefined>;

export interface LocalHostOptions {
  /** How long to wait for the "listening on" line; 20 s by default. */
  timeoutMs?: number;
  /**
   * Called with every whole line the host prints (stdout and stderr, its start line and request log
   * included), from the first; for callers that watch the whole log, not only its tail.
   */
  onLine?: (line: string) => void;
}

/** A local host in a child process. */
export interface LocalHost {
  /** http://127.0.0.1:{port} */
  readonly url: string;
  readonly child: ChildProcess;
  /** The tail of everything the host printed (stdout and stderr: its start line and request log), for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** The host exited (or never said it was listening) before it was ready. */
export class HostDidNotStart extends Error {
  override name = 'HostDidNotStart';

  constructor(
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly hostOutput: string,
  ) {
    super(`the host did not start (exit code ${exitCode}${signal ? `, signal ${signal}` : ''}):\n${hostOutput}`);
  }
}

const running = new Set<LocalHost>();

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Calls `onLine` with each whole line of `stream`; a last line without a newline is not reported. */
function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  });
}

/**
 * Starts a host on a free port (PORT=0 unless overridden) with process.env plus `env`, and resolves
 * once it prints its "listening on" line. Rejects with HostDidNotStart if it exits first or does not
 * start within `options.timeoutMs` (it is killed then). Requires `npm run build`.
 */
export function startLocalHost(env: EnvOverrides = {}, options: LocalHostOptions = {}): Promise<LocalHost> {
  const child = spawn(process.execPath, [START_SCRIPT], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  if (options.onLine) {
    splitLines(child.stdout, options.onLine);
    splitLines(child.stderr, options.onLine);
  }

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new HostDidNotStart(code, signal, output));
    };
    const timer = setTimeout(() => {
      void stopChild(child).then(() => fail(child.exitCode, child.signalCode));
    }, options.timeoutMs ?? START_TIMEOUT_MS);
    const onData = (): void => {
      const match = LISTENING.exec(output);
      if (!match || settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      const host: LocalHost = {
        url: match[1],
        child,
        output: () => output,
        stop: async () => {
          await stopChild(child);
          running.delete(host);
        },
      };
      running.add(host);
      child.once('exit', () => running.delete(host));
      resolve(host);
    };
    child.stdout.on('data', onData);
    child.once('error', () => fail(null, null));
    child.once('exit', (code, signal) => fail(code, signal));
  });
}

/** Stops every host startLocalHost started in this process that is still running (for afterAll). */
export async function stopLocalHosts(): Promise<void> {
  await Promise.all([...running].map((host) => host.stop()));
}

/**
 * Starts the host in this process on a free port, with the app of `projectRoot`/dist, configured from
 * this process's environment (set it first: the app reads its settings when it loads). With
 * `requestLog: false` the per-request log line is dropped: a benchmark measures the service, not the
 * speed of a terminal. Close it with `close()`.
 */
export async function startLocalHostInProcess(options: { projectRoot: string; requestLog?: boolean }): Promise<RunningHost> {
  // Loaded here, not at the top: a test that starts child hosts does not load the host itself.
  const { installFunctionsCore, registerHook } = await import('./host/functionsCore');
  const { startHost } = await import('./host/server');
  // The Functions worker provides @azure/functions-core before the app loads; so do we.
  installFunctionsCore();
  if (options.requestLog === false) {
    registerHook('log', (context) => {
      (context as unknown as { level: string }).level = 'none';
    });
  }
  return startHost({ port: 0, projectRoot: options.projectRoot });
}
