import { keyBody as escrowBody, newId, recoveryPassword } from '../../scripts/bench/fixtures';

// The benchmark's generators (scripts/, which the build compiles) serve the tests too.
export { newId, recoveryPassword };

export interface KeyBody {
  id?: string;
  deviceId?: string;
  key?: string;
  volumeType?: string | number;
  createdDateTime?: string;
  [extra: string]: unknown;
}

/** A valid escrow body, with any property replaced or added (tests add wrong ones on purpose). */
export function keyBody(overrides: KeyBody = {}): KeyBody {
  return { ...escrowBody(), ...overrides };
}
