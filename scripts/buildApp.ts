// `npm run build`, last step: the app as one file, dist/app/main.js, which package.json `main` names and
// therefore what the Functions host (Azure, `func start`) and the local host load (issue 13: a cold
// start loaded ~180 files before; one file halves the load of the bare library's cost and, on Azure's
// mounted package, saves a file-system round trip per module).
//
// The entry imports every functions/*.ts, in name order, as the former `main` glob (dist/functions/*.js)
// loaded them; each registers its functions with @azure/functions on load.
//
// esbuild options, and why:
// - external `@azure/functions` (and `@azure/functions-core`, which the worker injects): the worker and
//   the local host hand the app its HttpRequest/InvocationContext through that one module instance;
//   a bundled copy would register functions nobody calls.
// - external `@azure/identity`: required only when storage or Graph authenticates with a token
//   credential (shared/storage/tables.ts, shared/graph/credential.ts load it on first use); bundled, it
//   would add ~2 MB to the file every instance parses at start, for no measured gain.
// - `@azure/data-tables`, `joi`, `jose` bundled: measured side by side (README "Benchmark"), bundling
//   data-tables took the load from ~2.3x to ~1.6x the bare library; joi and jose are wrapped by esbuild
//   in functions that run on first require, so bundled they cost parsing only, and they save the many
//   small files they would be read from.
// - no minification: no measurable gain within the noise of this machine, and a stack trace of an
//   unminified bundle still names functions and lines readable without the map.
// - `sourcemap: 'linked'`, `sourcesContent: false`: main.js.map beside main.js maps stack traces back to
//   the .ts files when Node runs with --enable-source-maps (README "Stack traces"); the sources themselves
//   are not needed for that and stay out of the deployment package.
// - `target: 'node20'` (package.json engines), `format: 'cjs'` as tsc emits for the rest of dist/, and
//   "use strict" on top as tsc writes it in every file: the app's modules ran in strict mode before.

import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { build, type BuildOptions } from 'esbuild';

const root = path.resolve(__dirname, '..', '..');

/** dist/app/main.js: what package.json `main` names. */
export const APP_BUNDLE = path.join('dist', 'app', 'main.js');

/** Loaded by the app at run time rather than bundled into it (see the top of this file). */
export const APP_EXTERNALS: readonly string[] = ['@azure/functions', '@azure/functions-core', '@azure/identity'];

/** The bundle's entry: an import of every function module, in name order. */
export async function appEntry(projectRoot: string): Promise<string> {
  const files = (await readdir(path.join(projectRoot, 'functions'))).filter((file) => file.endsWith('.ts')).sort();
  return files.map((file) => `import './functions/${file.slice(0, -'.ts'.length)}';`).join('\n');
}

export async function appBuildOptions(projectRoot: string): Promise<BuildOptions> {
  return {
    stdin: { contents: await appEntry(projectRoot), resolveDir: projectRoot, sourcefile: 'app-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: [...APP_EXTERNALS],
    outfile: path.join(projectRoot, APP_BUNDLE),
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: '"use strict";' },
    logLevel: 'warning',
  };
}

async function main(): Promise<void> {
  await build(await appBuildOptions(root));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
