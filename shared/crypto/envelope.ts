import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

// AES-256-GCM under versioned keys, the way Vault's barrier does it: every ciphertext names the key
// version that made it, old versions keep decrypting, and new writes use the active one. The record's
// id is bound as associated data, so a ciphertext copied into another record fails its tag check
// instead of decrypting to someone else's recovery key.

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface EncryptionKeyring {
  active: string;
  keys: ReadonlyMap<string, Buffer>;
}

export interface Sealed {
  /** base64 of IV | ciphertext | tag */
  ciphertext: string;
  keyVersion: string;
}

export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

export class KeyringError extends Error {
  override name = 'KeyringError';
}

const VERSION_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Checks a keyring read from settings; messages name what is wrong, never a key. */
export function keyringFrom(versions: Record<string, unknown>, active: string | undefined): EncryptionKeyring {
  const keys = new Map<string, Buffer>();
  for (const [version, encoded] of Object.entries(versions)) {
    if (!VERSION_NAME.test(version))
      throw new KeyringError(`ENCRYPTION_KEYS: version name '${version.slice(0, 64)}' must be 1-64 letters, digits, '.', '_' or '-'`);
    const key = typeof encoded === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
    if (!key || key.length !== KEY_BYTES)
      throw new KeyringError(`ENCRYPTION_KEYS: version '${version}' must be the base64 of exactly 32 bytes`);
    keys.set(version, key);
  }
  if (keys.size === 0) throw new KeyringError('ENCRYPTION_KEYS must hold at least one key version');
  if (!active) throw new KeyringError('ENCRYPTION_ACTIVE_KEY must name the key version new writes use');
  if (!keys.has(active)) throw new KeyringError(`ENCRYPTION_ACTIVE_KEY '${active.slice(0, 64)}' is not a version in ENCRYPTION_KEYS`);
  return { active, keys };
}

function associatedData(recordId: string): Buffer {
  return Buffer.from(`bitlockerRecoveryKey:${recordId}`, 'utf8');
}

export function seal(keyring: EncryptionKeyring, recordId: string, plaintext: string): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyring.keys.get(keyring.active)!, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(recordId));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { ciphertext: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64'), keyVersion: keyring.active };
}

export function open(keyring: EncryptionKeyring, recordId: string, sealed: Sealed): string {
  const key = keyring.keys.get(sealed.keyVersion);
  if (!key) throw new DecryptionError(`the record is encrypted under key version '${sealed.keyVersion}', which is not configured`);
  const bytes = Buffer.from(sealed.ciphertext, 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new DecryptionError('the stored ciphertext is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(recordId));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptionError('the stored ciphertext fails its integrity check (altered, or copied from another record)');
  }
}
