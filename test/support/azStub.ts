import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A stand-in for the Azure CLI on PATH, for the azd hooks: it records every call and answers from a
// script of outcomes, one per call of each kind (the last one repeats). The error texts are the
// shape az prints for Key Vault's errors: "(<error code>) <message>" with the service's code
// (SecretNotFound, Forbidden, Unauthorized; learn.microsoft.com Key Vault REST error codes), or the
// transport's own message when no answer came back.

export type ShowOutcome = 'exists' | 'notFound' | 'forbidden' | 'network' | 'otherTenant';
export type SetOutcome = 'ok' | 'forbidden';

export interface AzScript {
  show?: ShowOutcome[];
  set?: SetOutcome[];
  /** properties.status of the ENCRYPTION_KEYS reference, one per poll. */
  referenceStatus?: string[];
}

export interface AzCall {
  args: string[];
  /** What the command read on stdin (only `secret set` reads it). */
  stdin: string;
}

export interface AzStub {
  /** PATH with the stub first. */
  path: string;
  calls(): AzCall[];
  remove(): void;
}

const ERRORS: Record<Exclude<ShowOutcome, 'exists'>, string> = {
  notFound:
    'ERROR: (SecretNotFound) A secret with (name/id) escrow-encryption-keys was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.\nCode: SecretNotFound',
  forbidden:
    "ERROR: (Forbidden) Caller is not authorized to perform action on resource.\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\nCode: Forbidden",
  network:
    "ERROR: HTTPSConnectionPool(host='kv-escrow-test.vault.azure.net', port=443): Max retries exceeded with url: /secrets/escrow-encryption-keys/?api-version=7.4 (Caused by NameResolutionError(\"Failed to resolve 'kv-escrow-test.vault.azure.net'\"))",
  otherTenant:
    'ERROR: (Unauthorized) AKV10032: Invalid issuer. Expected one of https://sts.windows.net/11111111-1111-1111-1111-111111111111/, found https://sts.windows.net/22222222-2222-2222-2222-222222222222/.\nCode: Unauthorized',
};

// Plain JavaScript run by this Node (the shebang names its path), so that the stub needs nothing else.
const STUB = `
const fs = require('node:fs');
const dir = __dirname;
const args = process.argv.slice(2);
const script = JSON.parse(fs.readFileSync(dir + '/script.json', 'utf8'));
const errors = JSON.parse(fs.readFileSync(dir + '/errors.json', 'utf8'));
const stdin = args.includes('/dev/stdin') ? fs.readFileSync(0, 'utf8') : '';
fs.appendFileSync(dir + '/calls.jsonl', JSON.stringify({ args, stdin }) + '\\n');
function next(kind, fallback) {
  const list = script[kind] || [fallback];
  const countFile = dir + '/' + kind + '.count';
  const count = fs.existsSync(countFile) ? Number(fs.readFileSync(countFile, 'utf8')) : 0;
  fs.writeFileSync(countFile, String(count + 1));
  return list[Math.min(count, list.length - 1)];
}
const command = args.slice(0, 3).join(' ');
const group = args.slice(0, 2).join(' ');
if (command === 'keyvault secret show') {
  const outcome = next('show', 'exists');
  if (outcome === 'exists') { process.stdout.write('https://kv-escrow-test.vault.azure.net/secrets/escrow-encryption-keys/0123\\n'); process.exit(0); }
  process.stderr.write(errors[outcome] + '\\n');
  process.exit(1);
}
if (command === 'keyvault secret set') {
  if (next('set', 'ok') === 'ok') process.exit(0);
  process.stderr.write(errors.forbidden + '\\n');
  process.exit(1);
}
if (group === 'functionapp show') { process.stdout.write('/subscriptions/0000/resourceGroups/rg-test/providers/Microsoft.Web/sites/func-escrow-test\\n'); process.exit(0); }
if (args[0] === 'rest' && args.includes('get')) { process.stdout.write(next('referenceStatus', 'Resolved') + '\\n'); process.exit(0); }
if (args[0] === 'rest' || command === 'role assignment delete') process.exit(0);
process.stderr.write('az stub: unexpected call: ' + args.join(' ') + '\\n');
process.exit(3);
`;

export function installAzStub(script: AzScript): AzStub {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-az-'));
  writeFileSync(join(dir, 'script.json'), JSON.stringify(script));
  writeFileSync(join(dir, 'errors.json'), JSON.stringify(ERRORS));
  writeFileSync(join(dir, 'calls.jsonl'), '');
  writeFileSync(join(dir, 'az'), `#!${process.execPath}\n${STUB}`);
  chmodSync(join(dir, 'az'), 0o755);
  return {
    path: `${dir}:${process.env.PATH ?? ''}`,
    calls: () =>
      readFileSync(join(dir, 'calls.jsonl'), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as AzCall),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
