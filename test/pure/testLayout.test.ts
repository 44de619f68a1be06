import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

// Jest runs only the test files under a project's folder (jest.config.js): a test file anywhere else
// under test/ would never run, and nothing would say so. Every one must be in a project's folder.

const ROOT = join(__dirname, '..', '..');

interface Project {
  displayName: string;
  roots: string[];
}

const { projects } = jest.requireActual<{ projects: Project[] }>('../../jest.config.js');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(ROOT, path).split(sep).join('/')] : [];
  });
}

describe('the test folders', () => {
  const folders = projects.flatMap((project) => project.roots.map((root) => `${root.replace('<rootDir>/', '')}/`));

  it('are the projects pure, storage, cli, http, browser, windows and infra', () => {
    expect(projects.map((project) => project.displayName)).toEqual(['pure', 'storage', 'cli', 'http', 'browser', 'windows', 'infra']);
    expect(folders).toEqual(['test/pure/', 'test/storage/', 'test/cli/', 'test/http/', 'test/browser/', 'test/windows/', 'test/infra/']);
  });

  it('hold every test file under test/', () => {
    const files = testFiles(join(ROOT, 'test'));
    expect(files).toContain('test/pure/testLayout.test.ts');
    expect(files.filter((file) => !folders.some((folder) => file.startsWith(folder)))).toEqual([]);
  });
});
