'use strict';
// `npm run setup:tools`: installs the pinned tools the Windows-client and infrastructure tests run
// (PowerShell as a .NET global tool, Pester's module, the Bicep CLI) into .tools/, from NuGet with the
// machine's .NET SDK. Idempotent: a tool already at its pinned path is left alone. No network call
// is made when all three are there.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { toolsDir, tools } = require('./paths.cjs');

function run(command, args) {
  const result = spawnSync(command, args, { stdio: ['ignore', process.stderr, process.stderr] });
  if (result.error) {
    process.stderr.write(`setup:tools: cannot run ${command}: ${result.error.message}\n(the .NET SDK is needed)\n`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

fs.mkdirSync(toolsDir, { recursive: true });

if (!fs.existsSync(tools.pwsh.path)) {
  // A pinned version: without one, dotnet takes the newest, which this machine's NuGet copy cannot install.
  run('dotnet', ['tool', 'install', 'PowerShell', '--version', tools.pwsh.version, '--tool-path', path.dirname(tools.pwsh.path)]);
}

if (!fs.existsSync(tools.pester.path) || !fs.existsSync(tools.bicep.path)) {
  // Restored from a copy of the project file inside .tools/, so that restore's obj/ stays out of the tree.
  const restoreDir = path.join(toolsDir, 'restore');
  fs.mkdirSync(restoreDir, { recursive: true });
  fs.copyFileSync(path.join(__dirname, 'tools.csproj'), path.join(restoreDir, 'tools.csproj'));
  run('dotnet', ['restore', path.join(restoreDir, 'tools.csproj'), '--packages', path.join(toolsDir, 'nuget')]);
  // NuGet unpacks without the execute bit for group and others; the owner's is enough for us.
  fs.chmodSync(tools.bicep.path, 0o755);
}

for (const [name, tool] of Object.entries(tools)) process.stdout.write(`${name} ${tool.version}: ${tool.path}\n`);
