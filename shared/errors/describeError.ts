import { types } from 'node:util';
import { withoutSecrets } from '../redact';
import { asGraphError } from './asGraphError';
import { GraphError } from './graphError';

// An error as a line of a long run's report or a command's stderr: its message with anything shaped like
// a recovery password or a token masked, for the people who read those lines need not see either.

/**
 * An error's message, masked (a password or token in it is never printed). isNativeError also knows an
 * Error made in another realm (node:util's parseArgs errors, seen from a vm context such as a test's).
 */
export const describeError = (error: unknown): string =>
  error instanceof Error || types.isNativeError(error) ? withoutSecrets(error.message) : 'unexpected error';

/** Why one key was not stored, for a per-key report line: status and message, masked. */
export const failureReason = (error: unknown): string => {
  const answer = asGraphError(error);
  return answer instanceof GraphError ? withoutSecrets(`${answer.status} ${answer.code}: ${answer.message}`) : describeError(answer);
};
