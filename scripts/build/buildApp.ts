// `npm run build`, last step: the app as one file, dist/app/main.js, which package.json `main` names and
// therefore what the Functions host (Azure, `func start`) and the local host load. Its entry is
// functions/index.ts, the app's one entry (every function module, then the load-time settings check).
// A bundle, because a cold start otherwise reads ~180 files, each a file-system round trip on Azure's
// mounted package (measured in docs/deployment.md, "The app bundle and stack traces").
//
// esbuild options, and why (the ms figures below were measured side by side on a machine under load
// average 12 to 20, where every figure is ~3x a quiet machine's; the ratios are what carry over):
// - external `@azure/functions` (and `@azure/functions-core`, which the worker injects): the worker and
//   the local host hand the app its HttpRequest/InvocationContext through that one module instance;
//   a bundled copy would register functions nobody calls.
// - external `@azure/identity`, `joi`, `jose`: each is required on first use, not at load
//   (shared/storage/tables.ts and shared/graph/credential.ts for identity, shared/validation/lazyJoi.ts,
//   shared/auth/lazyJose.ts). Bundled, their code still has to be parsed by every start (joi and jose
//   are 430 KB of the bundle, identity ~2 MB); external, a start that never validates a body or a token
//   never reads them. Measured side by side (docs/benchmark.md), the require() of the app went from
//   ~370 to ~320 ms with joi and jose external. `@azure/storage-blob` likewise (shared/backup/blobs.ts):
//   only backups and a key read during a storage outage need it. `@azure/monitor-ingestion` too
//   (shared/audit/logsExport.ts): only the audit export's timer needs it.
// - `@azure/data-tables` bundled: the stores import it at load, so every start pays for it; bundled,
//   the load went from ~2.3x to ~1.6x the bare library (one file instead of ~180).
// - `minify` with `keepNames`: ~40 ms less to parse (require() ~320 -> ~270 ms in the same run), and
//   with keepNames a stack trace still names the functions and classes even without the source map
//   (only the line:column positions need the map).
// - `sourcemap: 'linked'`, `sourcesContent: false`: main.js.map beside main.js maps stack traces back to
//   the .ts files when Node runs with --enable-source-maps (off by default: parsing the map cost 0.2x of
//   the bare library's load, 1.60x instead of 1.40x) (docs/deployment.md); the sources themselves
//   are not needed for that and stay out of the deployment package.
// - `target: 'node20'` (package.json engines), `format: 'cjs'` as tsc emits for the rest of dist/, and
//   "use strict" on top as tsc writes it in every file: the app's modules ran in strict mode before.

import * as path from 'node:path';
import { build, type BuildOptions } from 'esbuild';

const root = path.resolve(__dirname, '..', '..', '..');

/** dist/app/main.js: what package.json `main` names. */
export const APP_BUNDLE = path.join('dist', 'app', 'main.js');

/** Loaded by the app at run time rather than bundled into it (see the top of this file). */
export const APP_EXTERNALS: readonly string[] = [
  '@azure/functions',
  '@azure/functions-core',
  '@azure/identity',
  '@azure/monitor-ingestion',
  '@azure/storage-blob',
  'joi',
  'jose',
];

/** The bundle's entry: the app's one entry module, which imports every function module. */
export const APP_ENTRY = path.join('functions', 'index.ts');

export function appBuildOptions(projectRoot: string): BuildOptions {
  return {
    entryPoints: [path.join(projectRoot, APP_ENTRY)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: [...APP_EXTERNALS],
    outfile: path.join(projectRoot, APP_BUNDLE),
    minify: true,
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: '"use strict";' },
    logLevel: 'warning',
  };
}

async function main(): Promise<void> {
  await build(appBuildOptions(root));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
