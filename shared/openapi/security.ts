import type { SecurityRequirement, SecuritySchemeObject } from './types';

// How callers authenticate: one bearer scheme, required by every operation unless the operation says
// `security: []` (the document itself, the health probe). The permissions each operation needs are
// its x-permissions (shared/auth/permissions.ts), since OpenAPI 3.0 has no vocabulary for app roles.

const SCHEME_NAME = 'entraId';

/** components/securitySchemes. */
export const SECURITY_SCHEMES: Record<string, SecuritySchemeObject> = {
  [SCHEME_NAME]: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An Entra ID access token for this API (RS256). Permissions come from roles (application) or scp (delegated); ' +
      "each operation's x-permissions lists those that allow it (any one suffices).",
  },
};

/** The document-wide `security`: a bearer token of the scheme above, whatever its scopes. */
export const SECURITY: SecurityRequirement[] = [{ [SCHEME_NAME]: [] }];
