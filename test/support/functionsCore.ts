// Imported first by tests that load function modules. The library requires '@azure/functions-core',
// which the Functions worker (or our local host) provides; jest has its own module registry, so the
// local host's implementation is handed to it here, and registrations land where tests can see them.
jest.mock(
  '@azure/functions-core',
  () =>
    jest.requireActual<typeof import('../../scripts/devhost/host/functionsCore')>('../../scripts/devhost/host/functionsCore').functionsCore,
  {
    virtual: true,
  },
);
