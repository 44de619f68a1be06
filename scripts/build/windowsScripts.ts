import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

// `npm run windows-scripts -- --url https://<function-app>` writes the two scripts an admin uploads to
// Intune Remediations, clients/windows/dist/Detect-KeyEscrow.ps1 and Remediate-KeyEscrow.ps1: the one
// script clients/windows/KeyEscrow.ps1 with the service URL and its mode as defaults (Intune passes
// no parameters to Remediations scripts). One source, so the two can never drift apart.

const SOURCE = join(__dirname, '../../../clients/windows/KeyEscrow.ps1');
const usage = 'usage: npm run windows-scripts -- --url https://<your-function-app>[/path] [--out clients/windows/dist]';

/**
 * The service URL as the script takes it: https, origin plus any path (an API Management or Front
 * Door prefix such as /escrow), no trailing slash; throws on anything else.
 */
export function serviceUrlOf(raw: string): string {
  const url = new URL(raw);
  if (url.protocol !== 'https:') throw new Error('--url must be the https URL of the escrow service');
  if (url.search || url.hash || url.username || url.password) throw new Error('--url must not carry a query, a fragment or credentials');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The script with `url` and `mode` filled in; throws when the source lacks a placeholder. */
export function renderScript(source: string, url: string, mode: 'Detect' | 'Remediate'): string {
  if (!source.includes("'__SERVICE_URL__'") || !source.includes("'__MODE__'")) throw new Error('KeyEscrow.ps1 lacks its placeholders');
  // Single-quoted PowerShell strings: a quote is doubled.
  return source.replace("'__SERVICE_URL__'", `'${url.replace(/'/g, "''")}'`).replace("'__MODE__'", `'${mode}'`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, out: { type: 'string' } } });
  if (!values.url) throw new Error('--url is required');
  const url = serviceUrlOf(values.url);
  const out = values.out ?? join(__dirname, '../../../clients/windows/dist');
  const source = await readFile(SOURCE, 'utf8');
  await mkdir(out, { recursive: true });
  for (const mode of ['Detect', 'Remediate'] as const) {
    // No BOM: the source is ASCII (a test holds it so), which every PowerShell reads the same way, and
    // Intune asks for UTF-8 without a BOM when it checks script signatures.
    await writeFile(join(out, `${mode}-KeyEscrow.ps1`), renderScript(source, url, mode), 'ascii');
  }
  process.stdout.write(`Wrote Detect-KeyEscrow.ps1 and Remediate-KeyEscrow.ps1 for ${url} to ${out}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    process.exitCode = 1;
  });
}
