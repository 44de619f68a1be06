import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { APP_EXTERNALS } from '../../scripts/build/buildApp';
import { deployableZipEntries, IGNORE_FILE, resolveFunctionAppRemoteBuild } from '../support/azdPackaging';

// The package azd really deploys: `npm run package`'s tree, zipped by the rules azd applies
// (test/support/azdPackaging.ts, reimplemented from Azure/azure-dev's source), unpacked into an
// empty folder outside the repository and loaded by a bare `node` with the Functions core stand-in
// (scripts/devhost/host/functionsCore.ts) in the worker's place. azd, the Functions host and Azure cannot run
// here; Node 22 (the deployed runtime) is not installed here either: this runs on the machine's Node.

const ROOT = join(__dirname, '..', '..');
const STAGED = join(ROOT, '.package', 'app');
const STAND_IN = join(ROOT, 'dist', 'scripts', 'devhost', 'host', 'functionsCore.js');

interface AzureYaml {
  services: Record<string, { project: string; language: 'js' | 'ts'; host: string; dist: string; remoteBuild?: boolean }>;
}
const azureYaml = parseYaml(readFileSync(join(ROOT, 'azure.yaml'), 'utf8')) as AzureYaml;
const api = azureYaml.services.api;

interface Loaded {
  http: string[];
  other: string[];
  outside: string[];
}

let unpacked: string;
let work: string;

beforeAll(() => {
  for (const built of ['dist/scripts/build/package.js', 'dist/scripts/devhost/host/functionsCore.js', 'dist/app/main.js']) {
    if (!existsSync(join(ROOT, built))) throw new Error(`${built} is missing: run npm run build first`);
  }
  execFileSync(process.execPath, [join(ROOT, 'dist', 'scripts', 'build', 'package.js')], { cwd: ROOT, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'escrow-azd-'));
  const zip = join(work, 'api-azddeploy.zip');
  // The system zip follows symbolic links by default, as azd's rzip does.
  execFileSync('zip', ['-q', '-X', zip, '-@'], { cwd: join(ROOT, api.dist), input: deployableZipEntries(join(ROOT, api.dist), api).join('\n') });
  unpacked = join(work, 'wwwroot');
  execFileSync('unzip', ['-q', zip, '-d', unpacked]);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function loadUnpacked(): Loaded {
  const loader = `
    const Module = require('node:module');
    const path = require('node:path');
    const core = require(${JSON.stringify(STAND_IN)});
    core.installFunctionsCore();
    const root = process.cwd();
    const outside = [];
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      const resolved = resolve.call(this, request, ...rest);
      if (path.isAbsolute(resolved) && !resolved.startsWith(root + path.sep)) outside.push(resolved);
      return resolved;
    };
    const main = path.join(root, require(path.join(root, 'package.json')).main);
    require(main);
    // Required on first use, not at load: loaded here so that a missing one shows now.
    for (const name of ${JSON.stringify(APP_EXTERNALS.filter((name) => name !== '@azure/functions-core'))}) Module.createRequire(main)(name);
    process.stdout.write(JSON.stringify({ http: core.registeredHttpFunctions().map((f) => f.name), other: core.registeredNonHttpFunctionNames(), outside }));
  `;
  const run = spawnSync(process.execPath, ['-e', loader], {
    cwd: unpacked,
    encoding: 'utf8',
    // The settings the template writes (infra/resources.bicep), with test values; nothing of this machine's environment.
    env: {
      PATH: dirname(process.execPath),
      AUTH_MODE: 'entra',
      AUTH_TENANT_ID: '11111111-1111-1111-1111-111111111111',
      AUTH_AUDIENCE: 'api://bitlocker-key-escrow',
      STORAGE_TABLE_ENDPOINT: 'https://stescrowtest.table.core.windows.net/',
      AZURE_CLIENT_ID: '22222222-2222-2222-2222-222222222222',
      ENCRYPTION_KEYS: JSON.stringify({ v1: Buffer.alloc(32, 7).toString('base64') }),
      ENCRYPTION_ACTIVE_KEY: 'v1',
      DEVICE_AUTH: 'entra',
      ENTRA_MIRROR_SCHEDULE: '0 0 3 * * *',
      WEBSITE_INSTANCE_ID: 'test-instance',
    },
  });
  if (run.status !== 0) throw new Error(`the unpacked package did not load:\n${run.stderr}`);
  return JSON.parse(run.stdout) as Loaded;
}

describe('the package azd deploys', () => {
  it('is deployed as built: remoteBuild false, and azd agrees with the project .funcignore', () => {
    expect(api).toMatchObject({ language: 'js', host: 'function', dist: '.package/app', remoteBuild: false });
    expect(resolveFunctionAppRemoteBuild(join(ROOT, api.project), api)).toBe(false);
  });

  it('unpacks outside the repository, with no node_modules above it to fall back on', () => {
    expect(unpacked.startsWith(ROOT)).toBe(false);
    for (let dir = dirname(unpacked); dir !== parse(dir).root; dir = dirname(dir)) {
      expect([dir, existsSync(join(dir, 'node_modules'))]).toEqual([dir, false]);
    }
  });

  it('loads with a bare node and registers every function, needing nothing outside the package', () => {
    const loaded = loadUnpacked();
    expect(loaded.http.sort()).toEqual(EXPECTED_HTTP_FUNCTIONS);
    expect(loaded.other.sort()).toEqual(['auditRetention', 'entraMirror', 'purgeExpired', 'sweepDeviceNonces']);
    expect(loaded.outside).toEqual([]);
  });

  it('holds the production dependencies and no dev dependency', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const installed = Object.keys(lock.packages).filter((path) => path.startsWith('node_modules/'));
    const dev = installed.filter((path) => lock.packages[path].dev === true);
    expect(dev.length).toBeGreaterThan(0);
    expect(dev.filter((path) => existsSync(join(unpacked, path)))).toEqual([]);
    expect(installed.filter((path) => lock.packages[path].dev !== true && !existsSync(join(unpacked, path)))).toEqual([]);
  });

  it('carries package.json with main and dependencies but no scripts, and azd leaves the .funcignore out', () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.main).toBe('dist/app/main.js');
    expect(manifest).toHaveProperty('dependencies');
    expect(manifest).not.toHaveProperty('scripts');
    expect(manifest).not.toHaveProperty('devDependencies');
    expect(existsSync(join(STAGED, IGNORE_FILE))).toBe(true);
    expect(readdirSync(unpacked).sort()).toEqual(['dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json']);
  });

  it('would lose node_modules without the staged .funcignore unless remoteBuild is false (azd defaults)', () => {
    const bare = join(work, 'bare');
    mkdirSync(join(bare, 'node_modules', 'joi'), { recursive: true });
    writeFileSync(join(bare, 'package.json'), '{}');
    writeFileSync(join(bare, 'node_modules', 'joi', 'index.js'), '');
    expect(deployableZipEntries(bare, { language: 'js' })).toEqual(['package.json']);
    expect(deployableZipEntries(bare, { language: 'js', remoteBuild: false })).toEqual(['node_modules/joi/index.js', 'package.json']);
    expect(deployableZipEntries(STAGED, api)).toContain('node_modules/@azure/functions/package.json');
  });
});

// Every HTTP function the app registers (the function modules functions/index.ts loads), by name.
const EXPECTED_HTTP_FUNCTIONS = [
  'coverageReport-beta-bitlocker-coverageReport',
  'coverageReport-beta-informationProtection-bitlocker-coverageReport',
  'coverageReport-bitlocker-coverageReport',
  'coverageReport-informationProtection-bitlocker-coverageReport',
  'coverageReport-v1-0-bitlocker-coverageReport',
  'coverageReport-v1-0-informationProtection-bitlocker-coverageReport',
  'deletedItems-beta-directory-deletedItems-item',
  'deletedItems-beta-directory-deletedItems-keys',
  'deletedItems-beta-directory-deletedItems-restore',
  'deletedItems-directory-deletedItems-item',
  'deletedItems-directory-deletedItems-keys',
  'deletedItems-directory-deletedItems-restore',
  'deletedItems-v1-0-directory-deletedItems-item',
  'deletedItems-v1-0-directory-deletedItems-keys',
  'deletedItems-v1-0-directory-deletedItems-restore',
  'deviceStatuses-beta-bitlocker-deviceStatuses',
  'deviceStatuses-beta-informationProtection-bitlocker-deviceStatuses',
  'deviceStatuses-bitlocker-deviceStatuses',
  'deviceStatuses-informationProtection-bitlocker-deviceStatuses',
  'deviceStatuses-v1-0-bitlocker-deviceStatuses',
  'deviceStatuses-v1-0-informationProtection-bitlocker-deviceStatuses',
  'directoryAudits-auditLogs-directoryAudits',
  'directoryAudits-beta-auditLogs-directoryAudits',
  'directoryAudits-v1-0-auditLogs-directoryAudits',
  'health',
  'helpdesk',
  'helpdesk-assets',
  'helpdesk-config',
  'keysAwaitingRotation-beta-bitlocker-keysAwaitingRotation',
  'keysAwaitingRotation-beta-informationProtection-bitlocker-keysAwaitingRotation',
  'keysAwaitingRotation-bitlocker-keysAwaitingRotation',
  'keysAwaitingRotation-informationProtection-bitlocker-keysAwaitingRotation',
  'keysAwaitingRotation-v1-0-bitlocker-keysAwaitingRotation',
  'keysAwaitingRotation-v1-0-informationProtection-bitlocker-keysAwaitingRotation',
  'myDevices-beta-bitlocker-myDevices',
  'myDevices-beta-informationProtection-bitlocker-myDevices',
  'myDevices-bitlocker-myDevices',
  'myDevices-informationProtection-bitlocker-myDevices',
  'myDevices-v1-0-bitlocker-myDevices',
  'myDevices-v1-0-informationProtection-bitlocker-myDevices',
  'notFound',
  'openapi',
  'recoveryKeys-beta-bitlocker-recoveryKeys',
  'recoveryKeys-beta-bitlocker-recoveryKeys-item',
  'recoveryKeys-beta-informationProtection-bitlocker-recoveryKeys',
  'recoveryKeys-beta-informationProtection-bitlocker-recoveryKeys-item',
  'recoveryKeys-bitlocker-recoveryKeys',
  'recoveryKeys-bitlocker-recoveryKeys-item',
  'recoveryKeys-informationProtection-bitlocker-recoveryKeys',
  'recoveryKeys-informationProtection-bitlocker-recoveryKeys-item',
  'recoveryKeys-v1-0-bitlocker-recoveryKeys',
  'recoveryKeys-v1-0-bitlocker-recoveryKeys-item',
  'recoveryKeys-v1-0-informationProtection-bitlocker-recoveryKeys',
  'recoveryKeys-v1-0-informationProtection-bitlocker-recoveryKeys-item',
  'revealGrants-beta-bitlocker-revealGrants',
  'revealGrants-beta-bitlocker-revealGrants-devices',
  'revealGrants-beta-bitlocker-revealGrants-item',
  'revealGrants-beta-informationProtection-bitlocker-revealGrants',
  'revealGrants-beta-informationProtection-bitlocker-revealGrants-devices',
  'revealGrants-beta-informationProtection-bitlocker-revealGrants-item',
  'revealGrants-bitlocker-revealGrants',
  'revealGrants-bitlocker-revealGrants-devices',
  'revealGrants-bitlocker-revealGrants-item',
  'revealGrants-informationProtection-bitlocker-revealGrants',
  'revealGrants-informationProtection-bitlocker-revealGrants-devices',
  'revealGrants-informationProtection-bitlocker-revealGrants-item',
  'revealGrants-v1-0-bitlocker-revealGrants',
  'revealGrants-v1-0-bitlocker-revealGrants-devices',
  'revealGrants-v1-0-bitlocker-revealGrants-item',
  'revealGrants-v1-0-informationProtection-bitlocker-revealGrants',
  'revealGrants-v1-0-informationProtection-bitlocker-revealGrants-devices',
  'revealGrants-v1-0-informationProtection-bitlocker-revealGrants-item',
  'revealRequests-beta-bitlocker-revealRequests',
  'revealRequests-beta-bitlocker-revealRequests-approve',
  'revealRequests-beta-bitlocker-revealRequests-deny',
  'revealRequests-beta-bitlocker-revealRequests-item',
  'revealRequests-beta-informationProtection-bitlocker-revealRequests',
  'revealRequests-beta-informationProtection-bitlocker-revealRequests-approve',
  'revealRequests-beta-informationProtection-bitlocker-revealRequests-deny',
  'revealRequests-beta-informationProtection-bitlocker-revealRequests-item',
  'revealRequests-bitlocker-revealRequests',
  'revealRequests-bitlocker-revealRequests-approve',
  'revealRequests-bitlocker-revealRequests-deny',
  'revealRequests-bitlocker-revealRequests-item',
  'revealRequests-informationProtection-bitlocker-revealRequests',
  'revealRequests-informationProtection-bitlocker-revealRequests-approve',
  'revealRequests-informationProtection-bitlocker-revealRequests-deny',
  'revealRequests-informationProtection-bitlocker-revealRequests-item',
  'revealRequests-v1-0-bitlocker-revealRequests',
  'revealRequests-v1-0-bitlocker-revealRequests-approve',
  'revealRequests-v1-0-bitlocker-revealRequests-deny',
  'revealRequests-v1-0-bitlocker-revealRequests-item',
  'revealRequests-v1-0-informationProtection-bitlocker-revealRequests',
  'revealRequests-v1-0-informationProtection-bitlocker-revealRequests-approve',
  'revealRequests-v1-0-informationProtection-bitlocker-revealRequests-deny',
  'revealRequests-v1-0-informationProtection-bitlocker-revealRequests-item',
  'root',
];
