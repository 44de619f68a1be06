import type { Settings } from '../config';

/**
 * What the helpdesk page learns from GET /helpdesk/config.json: how to sign in and how long a key
 * stays shown. Never a secret: anyone who can load the page can read it.
 */
export type HelpdeskPageConfig =
  | { signIn: 'local'; revealSeconds: number }
  | { signIn: 'entra'; revealSeconds: number; clientId: string; authority: string; scopes: string[] }
  /** AUTH_MODE=entra without HELPDESK_CLIENT_ID, AUTH_TENANT_ID or an API scope: the page says what is missing. */
  | { signIn: 'unconfigured'; revealSeconds: number; missing: string[] };

/** Where MSAL signs in: the tenant's own authority, so that only its accounts can sign in. */
export const ENTRA_LOGIN_ORIGIN = 'https://login.microsoftonline.com';

/** A client id in AUTH_AUDIENCE becomes the `api://{id}` URI Entra proposes as the Application ID URI. */
function apiScope(settings: Settings): string | undefined {
  if (settings.helpdesk.apiScope) return settings.helpdesk.apiScope;
  const audience = settings.auth.audience
    ?.split(',')
    .map((a) => a.trim())
    .find(Boolean);
  if (!audience) return undefined;
  const resource = /^[0-9a-f-]{36}$/i.test(audience) ? `api://${audience}` : audience.replace(/\/+$/, '');
  return `${resource}/user_impersonation`;
}

/** The page's configuration under the given settings (see HelpdeskPageConfig). */
export function helpdeskPageConfig(settings: Settings): HelpdeskPageConfig {
  const { revealSeconds, clientId } = settings.helpdesk;
  if (settings.auth.mode === 'local') return { signIn: 'local', revealSeconds };
  const scope = apiScope(settings);
  const tenantId = settings.auth.tenantId;
  if (!clientId || !tenantId || !scope) {
    const missing = [
      ...(clientId ? [] : ['HELPDESK_CLIENT_ID']),
      ...(tenantId ? [] : ['AUTH_TENANT_ID']),
      ...(scope ? [] : ['AUTH_AUDIENCE or HELPDESK_API_SCOPE']),
    ];
    return { signIn: 'unconfigured', revealSeconds, missing };
  }
  return { signIn: 'entra', revealSeconds, clientId, authority: `${ENTRA_LOGIN_ORIGIN}/${tenantId}`, scopes: [scope] };
}
