import { mintDevelopmentToken } from '../auth/developmentToken';
import { Permission } from '../auth/permissions';
import { badRequest } from '../errors/graphError';
import { builtOnFirstUse } from '../validation/lazyJoi';

/** The roles the development sign-in offers: what a helpdesk needs, never the write permission. */
export const HELPDESK_ROLES: readonly string[] = [Permission.ReadBasic, Permission.Read, Permission.AuditRead];

/** An hour, like an Entra access token; the page signs in again after that. */
export const DEVELOPMENT_SIGN_IN_SECONDS = 3600;

/** The signed-in name the history shows for development sign-ins. */
export const DEVELOPMENT_USER = 'helpdesk@contoso.local';

/** Built on first use (shared/validation/lazyJoi.ts says why). */
const signInSchema = builtOnFirstUse((Joi) =>
  Joi.object<{ roles: string[] }>({
    roles: Joi.array()
      .items(Joi.string().valid(...HELPDESK_ROLES))
      .min(1)
      .max(HELPDESK_ROLES.length)
      .unique()
      .required(),
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
  const { roles } = result.value;
  const accessToken = await mintDevelopmentToken(stateDir, { scopes: roles, expiresIn: DEVELOPMENT_SIGN_IN_SECONDS });
  return { accessToken, expiresIn: DEVELOPMENT_SIGN_IN_SECONDS, roles };
}
