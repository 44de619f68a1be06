import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { APP_ENTRY } from '../../../scripts/build/buildApp';

// functions/index.ts is what the host loads (through its bundle): a function module it does not import
// is never registered, in Azure or locally, however well its own tests pass.

const ROOT = path.join(__dirname, '..', '..', '..');
const FUNCTIONS = path.join(ROOT, 'functions');
const entrySource = readFileSync(path.join(ROOT, APP_ENTRY), 'utf8');

describe('the app entry (functions/index.ts)', () => {
  it('is what the bundle is built from', () => {
    expect(APP_ENTRY).toBe(path.join('functions', 'index.ts'));
  });

  it('imports every function module, each once', () => {
    const imported = [...entrySource.matchAll(/^import '\.\/([A-Za-z0-9]+)';$/gm)].map((match) => match[1]);
    const modules = readdirSync(FUNCTIONS)
      .filter((file) => file.endsWith('.ts') && file !== 'index.ts')
      .map((file) => file.slice(0, -'.ts'.length));
    expect([...imported].sort()).toEqual(modules.sort());
    expect(new Set(imported).size).toBe(imported.length);
  });

  it('checks the settings and the keyring as it loads, after every registration', () => {
    const lines = entrySource.split('\n');
    const lastImport = lines.map((line) => line.startsWith('import ')).lastIndexOf(true);
    expect(lines.slice(lastImport + 1).filter((line) => /^\w/.test(line))).toEqual(['settings();', 'keyring();']);
  });
});
