import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';

// A stand-in for Entra ID's key endpoint (https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys)
// on 127.0.0.1, so that the verifier's real remote-JWKS code path runs in tests, and signing keys to go with it.

export interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  publicKey: KeyLike;
  /** The public key as Entra ID publishes it. */
  jwk: JWK;
}

export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  // Entra ID's JWKS entries carry kty, use, kid, n, e (and x5t, x5c); no alg.
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { kid, privateKey, publicKey, jwk };
}

export function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header }).sign(key.privateKey);
}

/** How the server answers: the key set, a 500, a body that is not JSON, or never. */
export type JwksBehaviour = 'serve' | 'error' | 'garbage' | 'hang';

export interface JwksServer {
  /** The JWKS URL, http://127.0.0.1:{port}/{tenant}/discovery/v2.0/keys. */
  url: string;
  /** Requests received so far. */
  readonly hits: number;
  /** Serve these keys from now on. */
  serve(keys: SigningKey[]): void;
  behave(behaviour: JwksBehaviour): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  let hits = 0;
  let jwks = { keys: keys.map((k) => k.jwk) };
  let behaviour: JwksBehaviour = 'serve';
  const hanging = new Set<ServerResponse>();
  const server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    hits += 1;
    switch (behaviour) {
      case 'serve':
        response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwks));
        return;
      case 'error':
        response.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal error');
        return;
      case 'garbage':
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('<html>not a key set</html>');
        return;
      case 'hang':
        hanging.add(response);
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/common/discovery/v2.0/keys`,
    get hits() {
      return hits;
    },
    serve(next) {
      jwks = { keys: next.map((k) => k.jwk) };
      behaviour = 'serve';
    },
    behave(next) {
      behaviour = next;
    },
    close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** A loopback URL where nothing listens (a port that was just free). */
export async function deadJwksUrl(): Promise<string> {
  const server = await startJwksServer([]);
  const url = server.url;
  await server.close();
  return url;
}
