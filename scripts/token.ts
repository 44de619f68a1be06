import { parseArgs } from 'node:util';
import { settings } from '../shared/config';
import { mintDevelopmentToken } from '../shared/auth/developmentToken';

// `npm run --silent token -- --roles A,B` prints one token for AUTH_MODE=local and nothing else on stdout.

const usage = 'usage: npm run --silent token -- [--roles A,B] [--scopes A,B] [--groups ID,ID] [--oid ID] [--expires SECONDS]';

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      roles: { type: 'string' },
      scopes: { type: 'string' },
      groups: { type: 'string' },
      oid: { type: 'string' },
      expires: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stderr.write(`${usage}\n`);
    return;
  }
  const expiresIn = values.expires === undefined ? 3600 : Number(values.expires);
  if (!Number.isInteger(expiresIn)) throw new Error('--expires takes a whole number of seconds');
  const token = await mintDevelopmentToken(settings().localStateDir, {
    roles: list(values.roles),
    scopes: list(values.scopes),
    groups: list(values.groups),
    oid: values.oid,
    expiresIn,
  });
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exitCode = 1;
});
