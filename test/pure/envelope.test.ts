import { randomBytes } from 'node:crypto';
import { DecryptionError, KeyringError, keyringFrom, open, seal } from '../../shared/crypto/envelope';

const key = () => randomBytes(32).toString('base64');
const PASSWORD = '496298-461032-321464-595518-463221-173943-033616-139579';

describe('envelope encryption of recovery passwords', () => {
  const ring = keyringFrom({ v1: key(), v2: key() }, 'v2');

  it('round-trips under the active version and records that version', () => {
    const sealed = seal(ring, 'id-1', PASSWORD);
    expect(sealed.keyVersion).toBe('v2');
    expect(sealed.ciphertext).not.toContain('496298');
    expect(open(ring, 'id-1', sealed)).toBe(PASSWORD);
  });

  it('uses a fresh IV for every seal, so equal keys do not give equal ciphertexts', () => {
    expect(seal(ring, 'id-1', PASSWORD).ciphertext).not.toBe(seal(ring, 'id-1', PASSWORD).ciphertext);
  });

  it('opens ciphertexts of an older version after the active one changed', () => {
    const old = seal(keyringFrom({ v1: ring.keys.get('v1')!.toString('base64') }, 'v1'), 'id-1', PASSWORD);
    expect(open(ring, 'id-1', old)).toBe(PASSWORD);
  });

  it('refuses a ciphertext copied to another record (the id is bound as associated data)', () => {
    const sealed = seal(ring, 'id-1', PASSWORD);
    expect(() => open(ring, 'id-2', sealed)).toThrow(DecryptionError);
  });

  it('refuses an altered ciphertext', () => {
    const sealed = seal(ring, 'id-1', PASSWORD);
    const bytes = Buffer.from(sealed.ciphertext, 'base64');
    bytes[14] ^= 1;
    expect(() => open(ring, 'id-1', { ...sealed, ciphertext: bytes.toString('base64') })).toThrow(/integrity/);
  });

  it('refuses a ciphertext relabelled with another version, and an unknown version', () => {
    const sealed = seal(ring, 'id-1', PASSWORD);
    expect(() => open(ring, 'id-1', { ...sealed, keyVersion: 'v1' })).toThrow(DecryptionError);
    expect(() => open(ring, 'id-1', { ...sealed, keyVersion: 'v9' })).toThrow(/not configured/);
  });

  it.each([
    [{}, 'v1', /at least one key/],
    [{ v1: 'c2hvcnQ=' }, 'v1', /exactly 32 bytes/],
    [{ v1: 42 }, 'v1', /exactly 32 bytes/],
    [{ 'bad name': key() }, 'bad name', /version name/],
    [{ v1: key() }, undefined, /ENCRYPTION_ACTIVE_KEY must name/],
    [{ v1: key() }, 'v2', /is not a version in ENCRYPTION_KEYS/],
  ])('refuses a malformed keyring %#', (keys, active, message) => {
    expect(() => keyringFrom(keys as Record<string, unknown>, active)).toThrow(KeyringError);
    expect(() => keyringFrom(keys as Record<string, unknown>, active)).toThrow(message);
  });

  it('never puts a key into its error messages', () => {
    const secret = key();
    try {
      keyringFrom({ v1: secret }, 'v2');
    } catch (error) {
      expect(String(error)).not.toContain(secret);
    }
    expect.assertions(1);
  });
});
