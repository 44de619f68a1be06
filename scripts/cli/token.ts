import { settings } from '../../shared/config';
import { mintDevelopmentToken } from '../../shared/auth/developmentToken';
import { parseCommandLine, runCommand, UsageError } from './commandLine';

// `npm run --silent token -- --roles A,B` prints one token for AUTH_MODE=local and nothing else on stdout.

const COMMAND = {
  tool: 'token',
  usage: 'usage: npm run --silent token -- [--roles A,B] [--scopes A,B] [--groups ID,ID] [--oid ID] [--expires SECONDS]',
  options: {
    roles: { type: 'string' },
    scopes: { type: 'string' },
    groups: { type: 'string' },
    oid: { type: 'string' },
    expires: { type: 'string' },
  },
} as const;

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

async function main(): Promise<number> {
  const claims = parseCommandLine(COMMAND, ({ values }) => {
    const expiresIn = values.expires === undefined ? 3600 : Number(values.expires);
    if (!Number.isInteger(expiresIn)) throw new UsageError('--expires takes a whole number of seconds');
    return { roles: list(values.roles), scopes: list(values.scopes), groups: list(values.groups), oid: values.oid, expiresIn };
  });
  const token = await mintDevelopmentToken(settings().localStateDir, claims);
  process.stdout.write(`${token}\n`);
  return 0;
}

runCommand(COMMAND.tool, main);
