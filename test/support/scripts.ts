import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { EnvOverrides } from '../../scripts/devhost/localHost';

// The compiled command-line tools (dist/scripts/cli, so build first) as child processes, with the test's
// environment plus overrides, their whole output captured for "nothing of a key reaches the output".

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningScript {
  /** Resolves with the first chunk written to stderr (or at exit). */
  firstOutput: Promise<void>;
  finished: Promise<ScriptRun>;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts dist/scripts/cli/{name}.js; `finished` rejects if it runs longer than `timeoutMs` (it is killed). */
export function startScript(name: string, args: readonly string[] = [], env: EnvOverrides = {}, timeoutMs = 30_000): RunningScript {
  const child = spawn(process.execPath, [join(__dirname, `../../dist/scripts/cli/${name}.js`), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let onOutput: () => void = () => undefined;
  const firstOutput = new Promise<void>((resolve) => (onOutput = resolve));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    onOutput();
  });
  const finished = new Promise<ScriptRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      onOutput();
      resolve({ code, stdout, stderr });
    });
  });
  return { firstOutput, finished, kill: (signal = 'SIGTERM') => child.kill(signal) };
}

export const runScript = (name: string, args: readonly string[] = [], env: EnvOverrides = {}, timeoutMs?: number): Promise<ScriptRun> =>
  startScript(name, args, env, timeoutMs).finished;
