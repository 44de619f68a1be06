import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A stand-in of the App Service / Functions managed-identity endpoint, for the real @azure/identity
// credential: the host is started with IDENTITY_ENDPOINT (this server) and IDENTITY_HEADER (its secret),
// as App Service sets them. Shape as @azure/msal-node's AppService source uses it:
//   GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=https://graph.microsoft.com
//   X-IDENTITY-HEADER: {IDENTITY_HEADER}
//   200 {"access_token","expires_on" (epoch seconds, as a string),"resource","token_type":"Bearer","client_id"}

export interface ManagedIdentityStandIn {
  /** IDENTITY_ENDPOINT */
  readonly endpoint: string;
  /** IDENTITY_HEADER */
  readonly secret: string;
  /** The access token it hands out (the Graph stand-in accepts only this one). */
  readonly accessToken: string;
  /** The resources asked for, one per token request. */
  readonly requestedResources: string[];
  close(): Promise<void>;
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * @param claims when given, the access token is shaped as Entra's are (a JWT with these claims, e.g. the
 * identity's oid, appid and tid; its signature is random, since only the Graph stand-in checks it, by value)
 */
export async function startManagedIdentityStandIn(claims?: Record<string, unknown>): Promise<ManagedIdentityStandIn> {
  const secret = randomBytes(16).toString('hex');
  const accessToken = claims
    ? `${base64url({ typ: 'JWT', alg: 'RS256' })}.${base64url(claims)}.${randomBytes(32).toString('base64url')}`
    : `mi-token-${randomBytes(16).toString('hex')}`;
  const requestedResources: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const resource = url.searchParams.get('resource') ?? '';
    const valid =
      req.method === 'GET' &&
      url.pathname === '/msi/token' &&
      url.searchParams.get('api-version') === '2019-08-01' &&
      req.headers['x-identity-header'] === secret;
    res.setHeader('Content-Type', 'application/json');
    if (!valid) {
      res.writeHead(400).end(JSON.stringify({ statusCode: 400, message: 'Bad request' }));
      return;
    }
    requestedResources.push(resource);
    res.writeHead(200).end(
      JSON.stringify({
        access_token: accessToken,
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        resource,
        token_type: 'Bearer',
        client_id: '6c1f0c7e-0000-4000-8000-00000000c11e',
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/msi/token`,
    secret,
    accessToken,
    requestedResources,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
