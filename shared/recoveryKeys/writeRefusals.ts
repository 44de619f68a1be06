import { GraphError } from '../errors/graphError';

// The refusals of a key write that callers act on by name: the import and the Entra mirror report each
// its own way. They answer as the 409s they are; a caller tells them apart with instanceof, not by
// reading the HTTP status they become.

/**
 * BitLocker never changes the password of a key protector; a rotated password is a new protector
 * with a new ID. So a different password under a stored id is refused, whoever sends it.
 */
export class PasswordChangedError extends GraphError {
  override name = 'PasswordChangedError';
  constructor(id: string) {
    super(409, 'conflict', `the recovery password of key ${id} cannot change; a rotated password has a new key ID`);
  }
}

/** A write to the id of a deleted key stores nothing: the deleted key would otherwise be lost under a new one. */
export class KeyDeletedError extends GraphError {
  override name = 'KeyDeletedError';
  constructor(id: string) {
    super(
      409,
      'conflict',
      `Recovery key ${id} is deleted. Restore it (POST /directory/deletedItems/${id}/restore) or purge it ` +
        `(DELETE /directory/deletedItems/${id}) before writing to its id.`,
    );
  }
}
