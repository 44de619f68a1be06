import { type GraphError, notFound } from '../errors/graphError';

/**
 * The answer to a read of key id `id` (on device `deviceId`, when the request names one) that finds no
 * live key; a key the caller may not see answers the same (asIfAbsent), so that one is not told from the other.
 */
export const keyNotFound = (id: string, deviceId?: string): GraphError =>
  notFound(`Recovery key ${id} was not found${deviceId === undefined ? '' : ` on device ${deviceId}`}.`);
