import { jsonResponseObject } from '../headers';
import type { OperationSpec } from '../operation';
import { pathItem } from '../pathItem';
import { ref } from '../reference';
import { RECOVERY_KEY_TAG } from '../tags';
import type { PathItemObject } from '../types';

// The keys awaiting rotation ({route}): functions/keysAwaitingRotation.ts.

const OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    action: 'listAwaitingKeys',
    summary: 'List the keys awaiting rotation',
    description:
      'Keys revealed (ROTATE_AFTER_REVEAL) and not yet superseded by a successor, longest waiting first, with their ' +
      '@escrow.disclosedDateTime and @escrow.disclosedBy annotations; never key. Pages may be short: follow @odata.nextLink.',
    permission: 'readMetadata',
    parameters: ['top', 'skipToken'],
    success: { 200: jsonResponseObject('A page of keys awaiting rotation.', ref('schemas', 'bitlockerRecoveryKeyCollection')) },
  },
];

/** The path of each keys-awaiting-rotation route as registered. */
export const keysAwaitingRotationPaths = (routes: readonly string[]): [string, PathItemObject][] =>
  routes.map((route) => pathItem({ route, path: `/${route}`, tag: RECOVERY_KEY_TAG }, OPERATIONS));
