import type { TokenCredential } from '@azure/identity';
import { DefaultAzureCredential } from '@azure/identity';

let credential: TokenCredential | undefined;

/**
 * The service's own Azure credential: DefaultAzureCredential, i.e. in a Function App its managed
 * identity (IDENTITY_ENDPOINT and IDENTITY_HEADER, which App Service sets), on a developer machine
 * the Azure CLI login. One per process, so its token cache is shared.
 */
export function serviceCredential(): TokenCredential {
  credential ??= new DefaultAzureCredential();
  return credential;
}
