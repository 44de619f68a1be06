// Loading the app the way the Node worker does: every file matching package.json `main` (a file, or a
// pattern with wildcards in its last component), with host.json's routePrefix for its routes.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder holding package.json at or above `start`. */
export function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No package.json above ${start}`);
  }
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
}

function property(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function packageMain(root: string): string {
  const main = property(readJson(path.join(root, 'package.json')), 'main');
  if (typeof main !== 'string' || main.trim() === '') throw new Error('package.json has no "main" naming the app files');
  return main;
}

/** host.json's routePrefix; the host's default is 'api' (this project sets ''). */
export function routePrefix(root: string): string {
  const file = path.join(root, 'host.json');
  if (!fs.existsSync(file)) return 'api';
  const prefix = property(property(property(readJson(file), 'extensions'), 'http'), 'routePrefix');
  return typeof prefix === 'string' ? prefix : 'api';
}

const GLOB_CHARS = /[*?[\]{}]/;

/** Absolute paths of a file path or a pattern with wildcards in its last component only (`dist/functions/*.js`), sorted. */
export function expandMainPattern(root: string, pattern: string): string[] {
  const absolute = path.resolve(root, pattern);
  const dir = path.dirname(absolute);
  const base = path.basename(absolute);
  if (GLOB_CHARS.test(dir)) throw new Error(`Unsupported "main" pattern '${pattern}': wildcards only in the file name`);
  if (!GLOB_CHARS.test(base)) {
    if (!fs.existsSync(absolute)) throw new Error(`App file '${pattern}' does not exist (did you build?)`);
    return [absolute];
  }
  if (/[[\]{}]/.test(base)) throw new Error(`Unsupported "main" pattern '${pattern}': only * and ? wildcards`);
  const matcher = new RegExp(
    `^${base
      .replace(/[.+^$()|\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isFile() && matcher.test(entry.name))
        .map((entry) => path.join(dir, entry.name))
        .sort()
    : [];
  // The worker fails the same way when `main` matches nothing.
  if (files.length === 0) throw new Error(`Found zero files matching '${pattern}' (did you build?)`);
  return files;
}

/** Requires every app file: `appMain` (files or patterns relative to `root`), or package.json `main`. */
export function loadApp(root: string, appMain: string | readonly string[] | undefined): void {
  const patterns = appMain === undefined ? [packageMain(root)] : typeof appMain === 'string' ? [appMain] : appMain;
  for (const file of patterns.flatMap((pattern) => expandMainPattern(root, pattern))) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the app is the point
    require(file);
  }
}
