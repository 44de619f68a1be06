import type { TokenCredential } from '@azure/identity';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { GraphCallFailed } from './errors';

/** Microsoft Graph's scope for an application's own permissions (here Device.Read.All of the managed identity). */
export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export const CLIENT_NAME = 'bitlocker-key-escrow';
export const CLIENT_VERSION = '0.1.0';

/**
 * Who is calling, as Graph asks of every client: a User-Agent, and the ocp-client-name /
 * ocp-client-version headers Microsoft's SDKs send (they appear in Graph's own diagnostics).
 */
export function clientHeadersPolicy(): PipelinePolicy {
  return {
    name: 'graphClientHeaders',
    sendRequest(request, next) {
      request.headers.set('User-Agent', `${CLIENT_NAME}/${CLIENT_VERSION}`);
      request.headers.set('ocp-client-name', CLIENT_NAME);
      request.headers.set('ocp-client-version', CLIENT_VERSION);
      request.headers.set('Accept', 'application/json');
      return next(request);
    },
  };
}

/**
 * Adds the credential's Graph token to every try. core-rest-pipeline's bearerTokenAuthenticationPolicy
 * refuses plain http outright, which the loopback stand-ins of the tests are; GRAPH_BASE_URL is checked
 * to be https elsewhere (shared/config.ts). The credential caches its tokens itself.
 */
export function graphTokenPolicy(credential: TokenCredential): PipelinePolicy {
  return {
    name: 'graphToken',
    async sendRequest(request, next) {
      let token;
      try {
        token = await credential.getToken(GRAPH_SCOPE, { abortSignal: request.abortSignal });
      } catch (error) {
        throw new GraphCallFailed(`No token for Microsoft Graph: ${(error as Error).name}.`);
      }
      if (!token) throw new GraphCallFailed('No token for Microsoft Graph.');
      request.headers.set('Authorization', `Bearer ${token.token}`);
      return next(request);
    },
  };
}
