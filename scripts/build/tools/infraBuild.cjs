'use strict';
// `npm run infra:build`: lints every infra/*.bicep with the pinned Bicep CLI (bicepconfig.json turns the
// linter's rules into errors) and compiles infra/main.bicep to ARM JSON, by default dist/infra/main.json
// (`--outdir DIR` for another folder: the tests build into a temporary one). Any diagnostic at all, even
// a compiler warning, fails the run: a warning nobody reads today is tomorrow's failed deployment.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { root, requireTool } = require('./paths.cjs');

const INFRA_DIR = path.join(root, 'infra');
const ENTRY = path.join(INFRA_DIR, 'main.bicep');

function bicep(tool, args) {
  const result = spawnSync(tool, args, { cwd: root, encoding: 'utf8' });
  if (result.error) throw result.error;
  // Bicep prints diagnostics to stderr and nothing to stdout unless asked (--stdout): both are shown.
  const output = `${result.stdout}${result.stderr}`.trim();
  return { status: result.status ?? 1, output };
}

function main(argv) {
  const outIndex = argv.indexOf('--outdir');
  const outDir = outIndex >= 0 ? path.resolve(argv[outIndex + 1]) : path.join(root, 'dist', 'infra');
  const tool = requireTool('bicep');
  const sources = fs
    .readdirSync(INFRA_DIR)
    .filter((name) => name.endsWith('.bicep'))
    .sort()
    .map((name) => path.join(INFRA_DIR, name));
  const failures = [];
  for (const source of sources) {
    const lint = bicep(tool, ['lint', source]);
    if (lint.status !== 0 || lint.output !== '') failures.push(`bicep lint ${path.relative(root, source)}:\n${lint.output}`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const outFile = path.join(outDir, 'main.json');
  const build = bicep(tool, ['build', ENTRY, '--outfile', outFile]);
  if (build.status !== 0 || build.output !== '') failures.push(`bicep build infra/main.bicep:\n${build.output}`);
  if (failures.length > 0) {
    process.stderr.write(`${failures.join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `bicep lint: ${sources.map((s) => path.relative(root, s)).join(', ')}: no diagnostics\n` +
      `bicep build: ${path.relative(root, outFile) || outFile}: no diagnostics\n`,
  );
}

main(process.argv.slice(2));
