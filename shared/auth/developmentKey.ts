import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK, KeyLike } from 'jose';
import { loadJose } from './lazyJose';

// AUTH_MODE=local trusts one signing key that lives only on the developer's machine (under the
// git-ignored local state folder). Its tokens carry a fixed issuer and audience of their own so that
// they can never be mistaken for Entra ID tokens.
export const LOCAL_ISSUER = 'https://bitlocker-escrow.local/dev';
export const LOCAL_AUDIENCE = 'api://bitlocker-escrow-local';
export const LOCAL_TENANT_ID = '00000000-0000-0000-0000-000000000000';

interface StoredKeyFile {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface DevelopmentKey {
  kid: string;
  privateKey: KeyLike;
  publicKey: KeyLike;
}

const fileName = 'dev-signing-key.json';

async function readKeyFile(path: string): Promise<StoredKeyFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as StoredKeyFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function createKeyFile(dir: string, path: string): Promise<StoredKeyFile> {
  const { exportJWK, generateKeyPair } = await loadJose();
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const file: StoredKeyFile = {
    kid: randomUUID(),
    privateJwk: await exportJWK(privateKey),
    publicJwk: await exportJWK(publicKey),
  };
  await mkdir(dir, { recursive: true });
  try {
    // 'wx': when the service and `npm run token` create it at the same moment, one wins and both use its key.
    await writeFile(path, JSON.stringify(file), { flag: 'wx', mode: 0o600 });
    return file;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readKeyFile(path))!;
  }
}

const loaded = new Map<string, Promise<DevelopmentKey>>();

async function load(dir: string): Promise<DevelopmentKey> {
  const path = join(dir, fileName);
  const file = (await readKeyFile(path)) ?? (await createKeyFile(dir, path));
  const { importJWK } = await loadJose();
  return {
    kid: file.kid,
    privateKey: (await importJWK(file.privateJwk, 'RS256')) as KeyLike,
    publicKey: (await importJWK(file.publicJwk, 'RS256')) as KeyLike,
  };
}

/** The development signing key under `dir`, created on first use. */
export function developmentKey(dir: string): Promise<DevelopmentKey> {
  let key = loaded.get(dir);
  if (!key) {
    key = load(dir);
    loaded.set(dir, key);
    key.catch(() => loaded.delete(dir));
  }
  return key;
}
