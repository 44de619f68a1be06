import { createHash } from 'node:crypto';
import { mintDevelopmentToken } from '../auth/developmentToken';
import { Permission } from '../auth/permissions';
import { badRequest } from '../errors/graphError';
import { builtOnFirstUse } from '../validation/lazyJoi';

/** The roles the development sign-in offers: what a helpdesk needs, never the write permission. */
export const HELPDESK_ROLES: readonly string[] = [Permission.ReadBasic, Permission.Read, Permission.AuditRead, Permission.Approve];

/** The delegated scope a development self-service user holds instead of any role: a signed-in user and nothing more. */
export const SELF_SERVICE_SCOPE = 'user_impersonation';

/**
 * The object id of a named development user: the fixed one for the default name, else derived from the
 * name, so that two people (a requester and an approver, an owner) can sign in to one local service.
 */
export function developmentOid(user: string | undefined): string | undefined {
  if (user === undefined || user === DEFAULT_USER) return undefined;
  const hex = createHash('sha256').update(user).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const DEFAULT_USER = 'helpdesk';

/** An hour, like an Entra access token; the page signs in again after that. */
export const DEVELOPMENT_SIGN_IN_SECONDS = 3600;

/** The signed-in name the history shows for development sign-ins. */
export const DEVELOPMENT_USER = 'helpdesk@contoso.local';

/** Built on first use (shared/validation/lazyJoi.ts says why). */
const signInSchema = builtOnFirstUse((Joi) =>
  Joi.object<{ roles: string[]; user?: string; selfService?: boolean }>({
    roles: Joi.when('selfService', {
      is: true,
      then: Joi.array().max(0).default([]),
      otherwise: Joi.array()
        .items(Joi.string().valid(...HELPDESK_ROLES))
        .min(1)
        .max(HELPDESK_ROLES.length)
        .unique()
        .required(),
    }),
    user: Joi.string().pattern(/^[a-z][a-z0-9-]{0,31}$/),
    selfService: Joi.boolean(),
  }).options({ abortEarly: true, errors: { wrap: { label: false } } }),
);

export interface DevelopmentSignIn {
  /** A token that AUTH_MODE=local accepts, with the roles as delegated scopes (`scp`) and `upn` set. */
  accessToken: string;
  expiresIn: number;
  roles: string[];
}

/**
 * Mints a development token for the helpdesk page (AUTH_MODE=local only; the function that calls this
 * is not registered otherwise). Body: `{"roles": [...]}`, a non-empty subset of HELPDESK_ROLES.
 * @throws GraphError 400 when the body names anything else.
 */
export async function developmentSignIn(stateDir: string, body: unknown): Promise<DevelopmentSignIn> {
  const result = signInSchema().validate(body);
  if (result.error) throw badRequest(`${result.error.message}. Offered roles: ${HELPDESK_ROLES.join(', ')}`);
  const { roles, user, selfService } = result.value;
  const accessToken = await mintDevelopmentToken(stateDir, {
    scopes: selfService ? [SELF_SERVICE_SCOPE] : roles,
    oid: developmentOid(user),
    expiresIn: DEVELOPMENT_SIGN_IN_SECONDS,
    ...(user !== undefined && { claims: { upn: `${user}@contoso.local` } }),
  });
  return { accessToken, expiresIn: DEVELOPMENT_SIGN_IN_SECONDS, roles };
}
