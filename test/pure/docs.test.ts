import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The docs are a set of pages that link to each other and to the code: a moved page or a renamed
// heading would leave a reader at a dead end, and a setting nobody documented is one an admin cannot
// find. Both are checked here rather than by review.

const ROOT = join(__dirname, '..', '..');

function markdownFiles(): string[] {
  const top = readdirSync(ROOT).filter((name) => name.endsWith('.md'));
  const docs = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
  return [...top.map((name) => join(ROOT, name)), ...docs.map((name) => join(ROOT, 'docs', name))];
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => anchorOf(match[1] ?? '')));
}

/** Relative link targets of a page, outside code blocks and code spans. */
function relativeLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1] ?? '').filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe('the docs', () => {
  const files = markdownFiles();

  it.each(files.map((file) => [relative(ROOT, file), file]))('%s links only to files and headings that exist', (_name, file) => {
    const broken = relativeLinks(file).filter((target) => {
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? file : resolve(dirname(file), path);
      if (!existsSync(resolved)) return true;
      return anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor);
    });
    expect(broken).toEqual([]);
  });

  it('document every setting shared/config.ts reads, in docs/configuration.md', () => {
    const config = readFileSync(join(ROOT, 'shared', 'config.ts'), 'utf8');
    const read = new Set([...config.matchAll(/\(env, '([A-Z][A-Z0-9_]+)'/g)].map((match) => match[1] ?? ''));
    const documented = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((name) => !documented.includes(`\`${name}\``))).toEqual([]);
  });

  it('keep the README a front door', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(250);
  });
});
