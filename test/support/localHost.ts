import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

// Private local hosts for tests that need their own settings (another storage, other encryption
// keys): the compiled app as `npm start` runs it (dist/scripts/start.js, so build first), in a child
// process with the test's environment plus the given overrides. The run's shared host is not touched.

const START_SCRIPT = join(__dirname, '../../dist/scripts/start.js');
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 8_000;

/** Environment overrides; `undefined` removes a variable the test process has. */
export type EnvOverrides = Record<string, string | undefined>;

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

/**
 * Starts a host on a free port (PORT=0 unless overridden) with process.env plus `env`, and resolves
 * once it prints its "listening on" line. Rejects with HostDidNotStart if it exits first or does not
 * start in time (it is killed then).
 */
export function startLocalHost(env: EnvOverrides = {}, timeoutMs = START_TIMEOUT_MS): Promise<LocalHost> {
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
    }, timeoutMs);
    const onData = (): void => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
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

/** Stops every host this module started that is still running (for afterAll). */
export async function stopLocalHosts(): Promise<void> {
  await Promise.all([...running].map((host) => host.stop()));
}
