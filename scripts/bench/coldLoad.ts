// Cold load: fresh `node` processes that require one module each, as the Functions worker loads the
// app at startup. Wall time is spawn to exit; the child also reports the require() itself (without
// Node's own startup), which is what the app's dependencies cost.

import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { median, now, round, shuffled } from './measure';

export interface ColdVariant {
  name: string;
  /** What the child requires, in order; none for Node's bare startup. */
  modules: readonly string[];
  /** Fewer runs than the others (a breakdown, not a target); they take the first rounds. */
  runs?: number;
}

export interface ColdResult {
  name: string;
  modules: readonly string[];
  runs: number;
  wallMs: { median: number; min: number; max: number };
  requireMs: { median: number; min: number; max: number };
}

function runChild(
  root: string,
  preload: string,
  env: NodeJS.ProcessEnv,
  modules: readonly string[],
): Promise<{ wall: number; require: number }> {
  const script =
    `const t=process.hrtime.bigint();${modules.map((m) => `require(${JSON.stringify(m)});`).join('')}` +
    'process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))';
  const start = now();
  return new Promise((resolve, reject) => {
    // stderr is kept (not shown) only to explain a failure.
    execFile(process.execPath, ['-r', preload, '-e', script], { cwd: root, env }, (error, stdout, stderr) => {
      const wall = now() - start;
      if (error) reject(new Error(`cold load of ${modules.join(', ') || 'nothing'} failed: ${error.message}\n${stderr}`));
      else resolve({ wall, require: Number(stdout) });
    });
  });
}

const spread = (xs: number[]): { median: number; min: number; max: number } => ({
  median: round(median(xs)),
  min: round(Math.min(...xs)),
  max: round(Math.max(...xs)),
});

/** Every variant `runs` times (or its own fewer), interleaved in rounds of a fresh random order; one child at a time. */
export async function measureColdLoad(
  root: string,
  env: NodeJS.ProcessEnv,
  variants: readonly ColdVariant[],
  runs: number,
): Promise<ColdResult[]> {
  const preload = path.join(__dirname, 'preloadFunctionsCore.js');
  // One unmeasured round first: the first spawn pays for the OS file cache.
  for (const variant of variants) await runChild(root, preload, env, variant.modules);
  const walls = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const requires = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const variant of shuffled(variants.filter((v) => i < (v.runs ?? runs)))) {
      const { wall, require } = await runChild(root, preload, env, variant.modules);
      walls.get(variant.name)!.push(wall);
      requires.get(variant.name)!.push(require);
    }
  }
  return variants.map((v) => ({
    name: v.name,
    modules: v.modules,
    runs: walls.get(v.name)!.length,
    wallMs: spread(walls.get(v.name)!),
    requireMs: spread(requires.get(v.name)!),
  }));
}
