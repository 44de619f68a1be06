import type { HttpMethod } from '@azure/functions';

/**
 * Functions register every method, so that an unsupported one reaches the app and gets Graph's 405
 * with Allow (or Graph's 404) rather than the host's empty 404.
 */
export const ALL_METHODS: HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
