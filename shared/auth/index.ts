import type { HttpRequest, InvocationContext } from '@azure/functions';
import { settings } from '../config';
import { GraphError } from '../errors/graphError';
import { logFields } from '../http/logFields';
import type { RequestContext } from '../http/requestContext';
import type { Caller } from './caller';
import { authenticateDevice } from './device/authenticate';
import { isDeviceScheme } from './device/scheme';
import { authorize, type Operation } from './permissions';
import { SigningKeysUnavailable } from './signingKeys';
import { TokenVerifier } from './tokens';
import { AuthConfigurationError } from './verificationSettings';

export type { Caller } from './caller';
export { Permission, authorize, isAllowed, type Operation } from './permissions';

let verifier: TokenVerifier | undefined;

function tokenVerifier(): TokenVerifier {
  const { auth, localStateDir } = settings();
  verifier ??= new TokenVerifier(auth, localStateDir);
  return verifier;
}

/** The authentication configuration's problem, for the health check; undefined when requests can be authenticated. */
export const authConfigurationProblem = (): Promise<string | undefined> => tokenVerifier().configurationProblem();

/**
 * The verified caller of a request: `Bearer` a token, `EntraDevice` a device proof (when DEVICE_AUTH is
 * on). 401 without a valid one, 503 when authentication is not configured or its directory is unreachable.
 */
export async function authenticate(request: HttpRequest, requestContext: RequestContext, context: InvocationContext): Promise<Caller> {
  if (isDeviceScheme(request.headers.get('authorization'))) return authenticateDevice(request, requestContext, context);
  try {
    return await tokenVerifier().verify(request.headers.get('authorization'));
  } catch (error) {
    if (error instanceof SigningKeysUnavailable) {
      // A 503 of ours: the log says why (the caller's answer does not).
      context.warn(
        JSON.stringify({ event: 'signingKeysUnavailable', ...logFields(context, requestContext.requestId), reason: error.reason }),
      );
      throw error;
    }
    if (!(error instanceof AuthConfigurationError)) throw error;
    context.error(JSON.stringify({ event: 'configurationError', ...logFields(context, requestContext.requestId), message: error.message }));
    throw new GraphError(503, 'serviceNotAvailable', 'The service is not configured to authenticate requests.');
  }
}

/** Authenticates and checks the permission an operation needs: 401 before 403, as Graph does. */
export async function authorizeRequest(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
  operation: Operation,
): Promise<Caller> {
  const caller = await authenticate(request, requestContext, context);
  authorize(caller, operation);
  return caller;
}
