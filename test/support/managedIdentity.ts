import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';

// Stand-ins for what an Azure Function App gets from the platform and cannot run here.
//
// The managed-identity endpoint, as App Service and Azure Functions expose it to the app
// (IDENTITY_ENDPOINT / IDENTITY_HEADER; api-version 2019-08-01, as @azure/identity 4.13's MSAL
// App Service source calls it): `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...
// [&client_id=...]` with the header `X-IDENTITY-HEADER: {IDENTITY_HEADER}`, answered with
// `{"access_token","expires_on" (epoch seconds, as a string),"resource","token_type":"Bearer","client_id"}`.
// https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference
//
// One stand-in serves every test that needs it: storage (identityStorage), and Graph (deviceEscrow,
// entraMirror), whose stand-ins accept exactly the token this one hands out for Graph (tokenFor).
//
// The tokens are what Azurite's `--oauth basic` checks (TableTokenAuthenticator.authenticateBasic):
// `iss` starting with https://sts.windows.net/, `aud` https://storage.azure.com (or the account's
// table endpoint), `iat`, `nbf` and `exp` present and `now` within nbf..exp; the signature is not checked.

export interface IdentityRequest {
  apiVersion: string | null;
  resource: string | null;
  clientId: string | null;
  /** Whether X-IDENTITY-HEADER carried the secret. */
  headerMatched: boolean;
}

export interface ManagedIdentityStandIn {
  /** For IDENTITY_ENDPOINT. */
  readonly endpoint: string;
  /** For IDENTITY_HEADER. */
  readonly header: string;
  /** Every token request, in order. */
  readonly requests: readonly IdentityRequest[];
  /**
   * The one token this stand-in hands out for `resource` (made on first use, then the same for the
   * stand-in's life), so that a stand-in of the resource (Graph) can accept exactly that token.
   */
  tokenFor(resource: string): Promise<string>;
  close(): Promise<void>;
}

/** What the tokens claim; `audience` other than the resource's makes the resource refuse them. */
export interface StandInOptions {
  audience?: string;
  tenantId?: string;
  /** Further claims, or overrides (`oid`, `appid`, `roles`...): an identity as the app's audit records it. */
  claims?: Record<string, unknown>;
}

export const STORAGE_RESOURCE = 'https://storage.azure.com';
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';

/** Token lifetime (s): longer than any test run. */
const TOKEN_LIFETIME_S = 3600;

export async function startManagedIdentityStandIn(options: StandInOptions = {}): Promise<ManagedIdentityStandIn> {
  const header = randomUUID();
  const tenantId = options.tenantId ?? randomUUID();
  const clientId = randomUUID();
  const { privateKey } = await generateKeyPair('RS256');
  const requests: IdentityRequest[] = [];
  const tokens = new Map<string, Promise<{ token: string; expiresOn: number }>>();

  const mint = async (resource: string): Promise<{ token: string; expiresOn: number }> => {
    const now = Math.floor(Date.now() / 1000);
    const expiresOn = now + TOKEN_LIFETIME_S;
    const token = await new SignJWT({ tid: tenantId, oid: randomUUID(), appid: clientId, idtyp: 'app', ...options.claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(`https://sts.windows.net/${tenantId}/`)
      .setAudience(options.audience ?? resource)
      .setIssuedAt(now)
      .setNotBefore(now - 300)
      .setExpirationTime(expiresOn)
      .sign(privateKey);
    return { token, expiresOn };
  };
  const tokenOf = (resource: string): Promise<{ token: string; expiresOn: number }> => {
    let issued = tokens.get(resource);
    if (!issued) tokens.set(resource, (issued = mint(resource)));
    return issued;
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const request: IdentityRequest = {
        apiVersion: url.searchParams.get('api-version'),
        resource: url.searchParams.get('resource'),
        clientId: url.searchParams.get('client_id'),
        headerMatched: req.headers['x-identity-header'] === header,
      };
      requests.push(request);
      res.setHeader('content-type', 'application/json');
      if (!request.headerMatched || request.apiVersion !== '2019-08-01' || !request.resource) {
        res.statusCode = 400;
        res.end(JSON.stringify({ statusCode: 400, message: 'Bad request: header, api-version or resource missing' }));
        return;
      }
      const { token, expiresOn } = await tokenOf(request.resource);
      res.end(
        JSON.stringify({
          access_token: token,
          expires_on: String(expiresOn),
          resource: request.resource,
          token_type: 'Bearer',
          client_id: request.clientId ?? clientId,
        }),
      );
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/msi/token`,
    header,
    requests,
    tokenFor: async (resource) => (await tokenOf(resource)).token,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A throw-away self-signed certificate for 127.0.0.1 (openssl), valid for a day: Azurite serves
 * https with it, and hosts trust it through NODE_EXTRA_CA_CERTS.
 */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
