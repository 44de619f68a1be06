// `npm run package`: the zip that zip deploy or `azd deploy` uploads to the Function App.
//
// Contents: the app bundle (dist/app/main.js and its source map: what package.json `main` names, built
// by scripts/build/buildApp.ts; the unbundled dist/functions and dist/shared are not loaded by the host and
// stay out), dist/web (the helpdesk console's bundled page; not dist/scripts, which are local tools),
// host.json, package.json, package-lock.json, and
// node_modules with production dependencies only, installed by `npm ci --omit=dev` from the lock
// file into a staging folder (so the package holds exactly what the lock says, and a lock that has
// drifted from package.json fails here rather than in Azure). Zipped with the system `zip`
// (Info-ZIP), which Debian and macOS have; nothing is hand-written ZIP.
//
// For azd (azure.yaml `dist: .package/app`, `remoteBuild: false`), which zips that tree itself: a
// `.funcignore` holding only a comment, because without one azd's default rules drop node_modules
// for JavaScript (Azure/azure-dev cli/azd/pkg/project/project_utils.go createDeployableZip), and the
// project root's own .funcignore must not be copied (its unanchored `test`, `scripts` and `*.ts` would
// match inside node_modules too). The staged package.json keeps `main` and `dependencies` but no
// `scripts` or `devDependencies`, so that no remote build could ever try to run `tsc` there.
//
// Output: .package/bitlocker-key-escrow.zip and its unpacked tree .package/app/ (azure.yaml's `dist`
// for azd), both git-ignored, and one line with the zip's size. Fails when the
// zip is larger than MAX_PACKAGE_BYTES: Flex Consumption deploys up to far more, but a package
// growing past this means dev dependencies or test data crept in.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APP_EXTERNALS } from './buildApp';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OUT_DIR = path.join(ROOT, '.package');
const ZIP_NAME = 'bitlocker-key-escrow.zip';
const STAGING = path.join(OUT_DIR, 'app');
/** azd's ignore file for Function Apps; its presence switches off azd's default exclusions. */
export const FUNCIGNORE = '.funcignore';
const FUNCIGNORE_TEXT = '# Everything in this folder is deployed as is (npm run package built it; azure.yaml remoteBuild: false).\n';
export const MAX_PACKAGE_BYTES = 50 * 1024 * 1024;

/** What goes into the package besides node_modules, relative to the project root. */
const CONTENTS = ['dist/app', 'dist/web', 'host.json', 'package.json', 'package-lock.json'];

function run(command: string, args: string[], cwd: string): void {
  // Tool output to stderr: stdout carries the one summary line.
  execFileSync(command, args, { cwd, stdio: ['ignore', process.stderr, process.stderr] });
}

function hasZip(): boolean {
  try {
    execFileSync('zip', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function sizeOfTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      files++;
      bytes += fs.statSync(path.join(entry.parentPath, entry.name)).size;
    }
  }
  return { files, bytes };
}

/** The staged package.json without scripts or dev dependencies (after npm ci, which needs them in sync with the lock). */
function writeDeployedManifest(file: string): void {
  const {
    scripts: _scripts,
    devDependencies: _devDependencies,
    ...deployed
  } = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, `${JSON.stringify(deployed, null, 2)}\n`);
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function buildPackage(): { zip: string; bytes: number; files: number; unpackedBytes: number } {
  if (!hasZip()) throw new Error("npm run package needs the 'zip' command (Debian/Ubuntu: apt-get install zip)");
  for (const item of CONTENTS) {
    if (!fs.existsSync(path.join(ROOT, item))) throw new Error(`${item} is missing (run npm run build first)`);
  }
  // Rebuilt from nothing every time: a leftover file must not ship.
  fs.rmSync(STAGING, { recursive: true, force: true });
  fs.mkdirSync(STAGING, { recursive: true });
  for (const item of CONTENTS) fs.cpSync(path.join(ROOT, item), path.join(STAGING, item), { recursive: true });
  // --ignore-scripts: nothing of a dependency runs on the packaging machine; the app needs no install scripts.
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], STAGING);
  // What the bundle leaves to node_modules must be there (the worker provides @azure/functions-core).
  for (const name of APP_EXTERNALS.filter((external) => external !== '@azure/functions-core')) {
    // Looked up in the staging folder itself: a resolution would walk up into the project's node_modules.
    if (!fs.existsSync(path.join(STAGING, 'node_modules', name, 'package.json'))) {
      throw new Error(`The package lacks ${name}, which the app bundle requires at run time`);
    }
  }
  writeDeployedManifest(path.join(STAGING, 'package.json'));
  fs.writeFileSync(path.join(STAGING, FUNCIGNORE), FUNCIGNORE_TEXT);
  const unpacked = sizeOfTree(STAGING);
  const zip = path.join(OUT_DIR, ZIP_NAME);
  fs.rmSync(zip, { force: true });
  // -X: no extra file attributes (uid/gid, times beyond the DOS ones), so the zip depends on content only.
  run('zip', ['-r', '-q', '-X', zip, '.'], STAGING);
  return { zip, bytes: fs.statSync(zip).size, files: unpacked.files, unpackedBytes: unpacked.bytes };
}

if (require.main === module) {
  try {
    const built = buildPackage();
    process.stdout.write(
      `${path.relative(ROOT, built.zip)}: ${mb(built.bytes)} (${built.files} files, ${mb(built.unpackedBytes)} unpacked; limit ${mb(MAX_PACKAGE_BYTES)})\n`,
    );
    if (built.bytes > MAX_PACKAGE_BYTES) {
      process.stderr.write('The package is over the limit: did dev dependencies or test data get in?\n');
      process.exitCode = 1;
    }
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
