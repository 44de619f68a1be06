// Test folders are named by what their tests need, and each folder is a project whose global setup
// starts just that (test/support/setup/services.ts): `npx jest --selectProjects pure` needs no build,
// no Azurite and no host. A test goes in the folder of the heaviest thing it reaches:
//   pure     nothing outside the test process (stand-in servers it starts itself are fine)
//   storage  the run's Azurite, with the app's code called in process
//   cli      the compiled command-line tools (dist/scripts, so build first), run as a user runs them
//   http     the compiled local host over HTTP (the run's shared one, or hosts of its own)
//   browser  the helpdesk console in Chromium
//   windows  the Windows client's Pester suites under PowerShell (test/windows/pester.test.ts), against
//            the compiled host they start on the run's Azurite (so build first)
//   infra    the deployment: the pinned Bicep CLI (npm run setup:tools), the compiled package, scripts
const SETUP = {
  pure: 'localMode',
  storage: 'storage',
  cli: 'storage',
  http: 'host',
  browser: 'host',
  windows: 'storage',
  infra: 'localMode',
};

/** @type {import('jest').Config} */
module.exports = {
  projects: Object.entries(SETUP).map(([folder, setup]) => ({
    displayName: folder,
    // Transpiled file by file, not type-checked again for every test file: `npm run typecheck` and
    // `npm run lint` check the types, once, and ts-jest's per-file type check was most of test:pure's time.
    // (tsconfig.test.json: tsconfig.json with isolatedModules, which tells ts-jest to transpile only.)
    transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
    testEnvironment: 'node',
    roots: [`<rootDir>/test/${folder}`],
    testMatch: ['**/*.test.ts'],
    globalSetup: `<rootDir>/test/support/setup/${setup}.ts`,
    globalTeardown: '<rootDir>/test/support/setup/teardown.ts',
  })),
  testTimeout: 30000,
  // Two cores: more workers than that only queue up behind one Azurite.
  maxWorkers: 2,
};
