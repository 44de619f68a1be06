'use strict';
// `node scripts/devhost/runCompiled.cjs <name> [args…]` runs dist/scripts/<name>.js, compiling first only when
// a source file is newer than it. `npm run --silent token` goes through here: tsc takes seconds, and
// a token is wanted in well under one. Plain JavaScript so that it needs no compiling itself.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const name = process.argv[2];
if (!name || !/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(name)) {
  process.stderr.write('usage: node scripts/devhost/runCompiled.cjs <script name> [args…]\n');
  process.exit(2);
}
const compiled = path.join(root, 'dist', 'scripts', `${name}.js`);

/** The newest modification time (ms) of the sources the build compiles, and of its settings. */
function newestSource() {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  for (const dir of ['functions', 'shared', 'scripts']) visit(path.join(root, dir));
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package.json'])
    newest = Math.max(newest, fs.statSync(path.join(root, file)).mtimeMs);
  return newest;
}

// When this last built: tsc --incremental rewrites only the outputs an edit changes (and nothing for a
// file touched but not changed), so neither the script's time nor the build info's says that the build
// has seen every source; this stamp, touched after each build, does.
const stamp = path.join(root, 'dist', '.runCompiled-built');
const mtimeOf = (file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0);
const built = fs.existsSync(compiled) ? Math.max(mtimeOf(compiled), mtimeOf(stamp)) : 0;
if (built < newestSource()) {
  // The compiler's output goes to stderr: stdout belongs to the script (a token, and nothing else).
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  fs.writeFileSync(stamp, '');
}
// Started as its own process, exactly as `node dist/scripts/<name>.js args…` would start it: scripts
// run their main() only when they are the main module (require.main === module), so a require() here
// would load them and silently do nothing. Its exit code is ours.
const run = spawnSync(process.execPath, [compiled, ...process.argv.slice(3)], { stdio: 'inherit' });
if (run.error) throw run.error;
process.exit(run.status ?? 1);
