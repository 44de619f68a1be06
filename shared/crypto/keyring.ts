import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { settings } from '../config';
import { type EncryptionKeyring, KeyringError, keyringFrom } from './envelope';

// The keyring is read once per process. In AUTH_MODE=local without ENCRYPTION_KEYS, a development
// key is made on first use under the git-ignored local state folder; anywhere else a missing or
// malformed setting is an error that stops the app from loading (see functions/recoveryKeys.ts).

const DEV_KEYS_FILE = 'encryption-keys.json';

interface KeyFile {
  active: string;
  keys: Record<string, string>;
}

function developmentKeyFile(dir: string): KeyFile {
  const path = join(dir, DEV_KEYS_FILE);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new KeyringError(`${path} is unreadable; delete it to make a new development key`);
  }
  const file: KeyFile = { active: 'dev1', keys: { dev1: randomBytes(32).toString('base64') } };
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(path, JSON.stringify(file), { flag: 'wx', mode: 0o600 });
    return file;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  }
}

function parseKeys(json: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new KeyringError('ENCRYPTION_KEYS must be a JSON object of key version to base64 key (it is not valid JSON)');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new KeyringError('ENCRYPTION_KEYS must be a JSON object of key version to base64 key');
  }
  return parsed as Record<string, unknown>;
}

export function readKeyring(): EncryptionKeyring {
  const { encryption, auth, localStateDir } = settings();
  if (encryption.keys === undefined && encryption.activeKey === undefined && auth.mode === 'local') {
    const file = developmentKeyFile(localStateDir);
    return keyringFrom(file.keys, file.active);
  }
  if (encryption.keys === undefined) {
    throw new KeyringError(
      'ENCRYPTION_KEYS is not set: recovery keys are never stored in plain text (in Azure, use a Key Vault reference)',
    );
  }
  return keyringFrom(parseKeys(encryption.keys), encryption.activeKey);
}

let cached: EncryptionKeyring | undefined;

export function keyring(): EncryptionKeyring {
  cached ??= readKeyring();
  return cached;
}
