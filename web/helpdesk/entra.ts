import { createStandardPublicClientApplication, InteractionRequiredAuthError, type AccountInfo } from '@azure/msal-browser';
import type { HelpdeskPageConfig } from '../../shared/helpdesk/pageConfig';
import { claimsOf, permissionsOf, type Session, userOf } from './session';

// AUTH_MODE=entra: MSAL.js, authorization code with PKCE, by redirect (no popups, no third-party
// cookies). Loaded only in entra mode (a separate chunk), so a local page never fetches MSAL.

type EntraConfig = Extract<HelpdeskPageConfig, { signIn: 'entra' }>;

export interface EntraSignIn {
  /** The session after a completed redirect or from MSAL's cache, or undefined when nobody is signed in. */
  session?: Session;
  /** Starts the sign-in redirect; the page is left. */
  signIn(): Promise<void>;
}

export async function entraSignIn(config: EntraConfig): Promise<EntraSignIn> {
  const redirectUri = `${location.origin}/helpdesk`;
  const msal = await createStandardPublicClientApplication({
    auth: { clientId: config.clientId, authority: config.authority, redirectUri, postLogoutRedirectUri: redirectUri },
    // sessionStorage: tokens end with the tab, and another tab signs in on its own.
    cache: { cacheLocation: 'sessionStorage' },
  });
  const redirected = await msal.handleRedirectPromise();
  const account: AccountInfo | undefined = redirected?.account ?? msal.getAllAccounts()[0];
  const scopes = config.scopes;
  const signIn = (): Promise<void> => msal.loginRedirect({ scopes });
  if (!account) return { signIn };

  const accessToken = async (): Promise<string> => {
    try {
      return (await msal.acquireTokenSilent({ scopes, account })).accessToken;
    } catch (error) {
      // Consent or a new sign-in is needed: the page is left and comes back signed in.
      if (error instanceof InteractionRequiredAuthError) await msal.acquireTokenRedirect({ scopes, account });
      throw error;
    }
  };
  const claims = claimsOf(await accessToken());
  const session: Session = {
    user: userOf(claims, account.username),
    permissions: permissionsOf(claims),
    accessToken,
    signOut: () => msal.logoutRedirect({ account }),
  };
  return { session, signIn };
}
