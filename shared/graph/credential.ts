import type { TokenCredential } from '@azure/identity';

let credential: Promise<TokenCredential> | undefined;

/** @azure/identity takes seconds to load; only instances that look a device up pay for it, and only then. */
function loadCredential(): Promise<TokenCredential> {
  credential ??= import('@azure/identity').then(({ DefaultAzureCredential }) => new DefaultAzureCredential());
  return credential;
}

/**
 * The service's own Azure credential: DefaultAzureCredential, i.e. in a Function App its managed
 * identity (IDENTITY_ENDPOINT and IDENTITY_HEADER, which App Service sets), on a developer machine
 * the Azure CLI login. One per process, so its token cache is shared; created on first use.
 */
export function serviceCredential(): TokenCredential {
  return { getToken: async (scopes, options) => (await loadCredential()).getToken(scopes, options) };
}
