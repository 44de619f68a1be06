import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

// How azd turns a Function App service's package folder into the zip it deploys, reimplemented from
// Azure/azure-dev at ae35809f496491989273d0edefdeb70f245f399b (2026-08-21):
// - cli/azd/pkg/project/project_utils.go createDeployableZip: reads the host's ignore file
//   (.funcignore) from the folder being zipped; with one, only its patterns exclude; without one,
//   for js/ts, every `node_modules` directory is excluded unless remoteBuild is explicitly false.
//   Always excluded: `.azure` directories, the ignore file itself, and (host function)
//   `local.settings.json`, each by name at any depth.
// - cli/azd/pkg/rzip/rzip.go CreateFromDirectory: walks in os.ReadDir order, follows symbolic links
//   (a link to a file is stored as that file's content, a link to a folder is walked).
// - cli/azd/pkg/project/service_target_functionapp.go resolveFunctionAppRemoteBuild: for js/ts reads
//   the .funcignore of the *service project* folder (not the package folder); remoteBuild unset means
//   "remote build only if node_modules is ignored there"; an explicit value must agree with it.
// azd parses ignore files with github.com/denormal/go-gitignore. This reimplementation parses only
// what a single top-level name needs: blank and comment lines, `!` negation, a leading or trailing
// `/`, and `*`/`?` wildcards; a package folder's ignore file with any pattern at all is refused,
// since deciding every nested path would need the whole gitignore matcher.

export const IGNORE_FILE = '.funcignore';

export interface FunctionServiceConfig {
  language: 'js' | 'ts';
  remoteBuild?: boolean;
}

function patternsOf(ignoreFileText: string): string[] {
  // go-gitignore does the same BOM strip (stripUTF8BOM) and skips blank and comment lines.
  return ignoreFileText
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

function globToRegExp(glob: string): RegExp {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`);
}

/** Whether a top-level directory `name` is ignored (gitignore: the last matching pattern wins). */
function ignoresTopLevelDirectory(patterns: readonly string[], name: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\//, '').replace(/\/$/, '');
    if (pattern.includes('/')) continue; // a path pattern cannot name a top-level entry alone
    if (globToRegExp(pattern).test(name)) ignored = !negated;
  }
  return ignored;
}

/** resolveFunctionAppRemoteBuild for js/ts: the remote-build decision, or the error azd stops with. */
export function resolveFunctionAppRemoteBuild(serviceProjectDir: string, config: FunctionServiceConfig): boolean {
  const ignoreFile = join(serviceProjectDir, IGNORE_FILE);
  if (!existsSync(ignoreFile)) return config.remoteBuild ?? true;
  const nodeModulesExcluded = ignoresTopLevelDirectory(patternsOf(readFileSync(ignoreFile, 'utf8')), 'node_modules');
  if (config.remoteBuild === undefined) return nodeModulesExcluded;
  if (config.remoteBuild && !nodeModulesExcluded) throw new Error(`'remoteBuild: true' requires '${IGNORE_FILE}' to exclude node_modules`);
  if (!config.remoteBuild && nodeModulesExcluded)
    throw new Error(`'remoteBuild: false' cannot be used when '${IGNORE_FILE}' excludes node_modules`);
  return config.remoteBuild;
}

/** The files createDeployableZip would put in the zip, as paths relative to `root` (symbolic links followed). */
export function deployableZipEntries(root: string, config: FunctionServiceConfig): string[] {
  const ignoreFile = join(root, IGNORE_FILE);
  const hasIgnoreFile = existsSync(ignoreFile);
  if (hasIgnoreFile && patternsOf(readFileSync(ignoreFile, 'utf8')).length > 0) {
    throw new Error(`${ignoreFile} has patterns; this reimplementation decides only an ignore file without any`);
  }
  const entries: string[] = [];
  const walk = (dir: string, depth: number): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const link = lstatSync(path).isSymbolicLink();
      const isDir = (link ? statSync(path) : lstatSync(path)).isDirectory();
      if (name === '.azure' && isDir) continue;
      if (name === IGNORE_FILE && !isDir) continue;
      if (name === 'local.settings.json' && !isDir) continue;
      if (!hasIgnoreFile && name === 'node_modules' && isDir && config.remoteBuild !== false) continue;
      if (isDir) {
        if (depth < 40) walk(path, link ? depth + 1 : depth);
      } else {
        entries.push(relative(root, path).split(sep).join('/'));
      }
    }
  };
  walk(root, 0);
  return entries;
}
