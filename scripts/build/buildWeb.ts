// `npm run build`, second half: bundles the helpdesk console (web/helpdesk) with esbuild into
// dist/web/helpdesk, which the deployment package carries and functions/helpdesk.ts serves.
// MSAL is split into its own chunk, loaded only in entra mode. No source maps: they would ship the
// sources to every browser for nothing a helpdesk member needs.

import { copyFile, mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(__dirname, '..', '..', '..');
const source = path.join(root, 'web', 'helpdesk');
const out = path.join(root, 'dist', 'web', 'helpdesk');

async function main(): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: { app: path.join(source, 'main.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'external',
    chunkNames: 'chunk-[hash]',
    outdir: out,
    logLevel: 'warning',
  });
  await Promise.all(['index.html', 'styles.css', 'icon.svg'].map((file) => copyFile(path.join(source, file), path.join(out, file))));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
