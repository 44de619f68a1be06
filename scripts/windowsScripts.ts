import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

// `npm run windows-scripts -- --url https://<function-app>` writes the two scripts an admin uploads to
// Intune Remediations, clients/windows/dist/Detect-KeyEscrow.ps1 and Remediate-KeyEscrow.ps1: the one
// script clients/windows/KeyEscrow.ps1 with the service URL and its mode as defaults (Intune passes
// no parameters to Remediations scripts). One source, so the two can never drift apart.

const SOURCE = join(__dirname, '../../clients/windows/KeyEscrow.ps1');
const usage = 'usage: npm run windows-scripts -- --url https://<your-function-app> [--out clients/windows/dist]';

/** The script with `url` and `mode` filled in; throws when the source lacks a placeholder. */
export function renderScript(source: string, url: string, mode: 'Detect' | 'Remediate'): string {
  if (!source.includes("'__SERVICE_URL__'") || !source.includes("'__MODE__'")) throw new Error('KeyEscrow.ps1 lacks its placeholders');
  // Single-quoted PowerShell strings: a quote is doubled.
  return source.replace("'__SERVICE_URL__'", `'${url.replace(/'/g, "''")}'`).replace("'__MODE__'", `'${mode}'`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, out: { type: 'string' } } });
  const url = values.url ? new URL(values.url) : undefined;
  if (!url || url.protocol !== 'https:') throw new Error('--url must be the https URL of the escrow service');
  const out = values.out ?? join(__dirname, '../../clients/windows/dist');
  const source = await readFile(SOURCE, 'utf8');
  await mkdir(out, { recursive: true });
  for (const mode of ['Detect', 'Remediate'] as const) {
    // UTF-8 with BOM: Windows PowerShell 5.1 reads a file without one as the ANSI code page.
    await writeFile(join(out, `${mode}-KeyEscrow.ps1`), `\ufeff${renderScript(source, url.origin, mode)}`);
  }
  process.stdout.write(`Wrote Detect-KeyEscrow.ps1 and Remediate-KeyEscrow.ps1 for ${url.origin} to ${out}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    process.exitCode = 1;
  });
}
