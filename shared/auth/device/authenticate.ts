import type { HttpRequest, InvocationContext } from '@azure/functions';
import { settings } from '../../config';
import { GraphClient } from '../../graph/client';
import { serviceCredential } from '../../graph/credential';
import { readBounded } from '../../http/body';
import { GraphError, serviceUnavailable } from '../../errors/graphError';
import type { RequestContext } from '../../http/requestContext';
import type { Caller } from '../caller';
import { CachedDeviceDirectory, StrangerLookupsSpent } from './cachedDirectory';
import { DirectoryUnavailable, type DeviceDirectory } from './directory';
import { GraphDeviceDirectory } from './graphDirectory';
import { LocalDeviceDirectory } from './localDirectory';
import { tableNonceStore } from './nonceStore';
import { type DeviceProofCheck, DeviceProofError } from './proofError';
import { DEVICE_SCHEME } from './scheme';
import { verifyDeviceProof, type DeviceIdentity } from './verifier';

/** Retry-After of our 503 when the directory cannot be reached and did not say when to come back. */
const DIRECTORY_RETRY_AFTER_S = 10;

/**
 * The one answer to a proof that was parsed but failed a check: which check (unknown device, disabled,
 * certificate not the device's, signature, clock, replay) is in the log only, so that an outsider
 * cannot learn whether a device id exists or is disabled.
 */
export const PROOF_REFUSED =
  'The device proof was refused. Check the device clock and its Entra registration; the service log names the failed check for this request-id.';

/** Failures of the proof's own syntax, which say nothing about any device and help a client's author. */
const SYNTAX_CHECKS: ReadonlySet<DeviceProofCheck> = new Set(['scheme', 'certificate']);

/** The 401 of a failed device proof: Graph's error code, our scheme in the challenge. */
export const deviceUnauthorized = (message: string): GraphError =>
  new GraphError(401, 'InvalidAuthenticationToken', message, { 'WWW-Authenticate': DEVICE_SCHEME });

let directory: DeviceDirectory | undefined;

/** Graph behind the cache (DEVICE_AUTH=entra), or the local folder, read afresh every time (DEVICE_AUTH=local). */
function deviceDirectory(): DeviceDirectory {
  const { deviceAuth, graphBaseUrl, localStateDir, deviceDirectoryLookupsPerMinute } = settings();
  directory ??=
    deviceAuth === 'local'
      ? new LocalDeviceDirectory(localStateDir)
      : new CachedDeviceDirectory(
          new GraphDeviceDirectory(new GraphClient(graphBaseUrl, serviceCredential())),
          Date.now,
          deviceDirectoryLookupsPerMinute,
        );
  return directory;
}

/**
 * The paths and queries the device may have signed: the one on the request line, and when
 * PUBLIC_BASE_URL has a path (a proxy such as API Management that strips it on the way), that path
 * in front of it. Both are brought to the canonical form by the verifier.
 */
const signedPathsOf = (request: HttpRequest): string[] => {
  const url = new URL(request.url);
  const received = `${url.pathname}${url.search}`;
  const base = settings().publicBaseUrl;
  const prefix = base ? new URL(base).pathname.replace(/\/+$/, '') : '';
  return prefix && !url.pathname.startsWith(`${prefix}/`) ? [received, `${prefix}${received}`] : [received];
};

/** The proof over the first signed path that verifies; a signature failure on each is the last one's. */
async function verifyOverSignedPaths(request: HttpRequest, body: Uint8Array): Promise<DeviceIdentity> {
  const paths = signedPathsOf(request);
  for (let i = 0; ; i++) {
    try {
      return await verifyDeviceProof(
        { authorization: request.headers.get('authorization') ?? '', method: request.method, pathAndQuery: paths[i], body },
        { directory: deviceDirectory(), nonces: tableNonceStore },
      );
    } catch (error) {
      // A failed signature is checked before the nonce is claimed, so the next path gets a fair try.
      if (!(error instanceof DeviceProofError && error.check === 'signature' && i < paths.length - 1)) throw error;
    }
  }
}

/**
 * The device behind an `Authorization: EntraDevice ...` request (README "Escrow from devices").
 * 401 InvalidAuthenticationToken naming the failed check, with `WWW-Authenticate: EntraDevice`, when
 * the proof fails or device authentication is off; 503 when the directory or the nonce table cannot
 * answer (never a pass). The request's body stays readable: a clone is hashed.
 */
export async function authenticateDevice(
  request: HttpRequest,
  requestContext: RequestContext,
  context: InvocationContext,
): Promise<Caller> {
  if (settings().deviceAuth === 'off') throw deviceUnauthorized('Device authentication (EntraDevice) is not enabled on this service.');
  try {
    const identity = await verifyOverSignedPaths(request, await readBounded(request.clone()));
    return { permissions: new Set(), delegated: false, device: identity };
  } catch (error) {
    if (error instanceof DeviceProofError) {
      context.warn(
        JSON.stringify({ event: 'deviceProofRefused', requestId: requestContext.requestId, check: error.check, detail: error.message }),
      );
      throw deviceUnauthorized(SYNTAX_CHECKS.has(error.check) ? error.message : PROOF_REFUSED);
    }
    if (error instanceof DirectoryUnavailable) {
      context.warn(JSON.stringify({ event: 'deviceDirectoryUnavailable', requestId: requestContext.requestId, reason: error.message }));
      throw serviceUnavailable(
        error instanceof StrangerLookupsSpent
          ? 'Too many requests from devices this instance does not know yet; try again shortly.'
          : 'The device directory cannot be reached; try again shortly.',
        error.retryAfterSeconds ?? DIRECTORY_RETRY_AFTER_S,
      );
    }
    throw error;
  }
}
