'use strict';
// Where `npm run setup:tools` puts the pinned tools, for the scripts and tests that run them. Plain
// JavaScript so that setup.cjs and the npm scripts need no compiling.

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..');
const toolsDir = path.join(root, '.tools');

const PWSH_VERSION = '7.6.10';
const PESTER_VERSION = '5.7.1';
const BICEP_VERSION = '0.49.2';

const tools = {
  pwsh: { version: PWSH_VERSION, path: path.join(toolsDir, 'pwsh', process.platform === 'win32' ? 'pwsh.exe' : 'pwsh') },
  pester: { version: PESTER_VERSION, path: path.join(toolsDir, 'nuget', 'pester', PESTER_VERSION, 'tools', 'Pester.psd1') },
  bicep: {
    version: BICEP_VERSION,
    path: path.join(toolsDir, 'nuget', 'azure.bicep.commandline.linux-x64', BICEP_VERSION, 'tools', 'bicep'),
  },
};

/** The path of a pinned tool; exits with the command that installs it when it is missing. */
function requireTool(name) {
  const tool = tools[name];
  if (!fs.existsSync(tool.path)) {
    process.stderr.write(`${name} ${tool.version} is not installed here: run \`npm run setup:tools\` once.\n`);
    process.exit(2);
  }
  return tool.path;
}

module.exports = { root, toolsDir, tools, requireTool };
