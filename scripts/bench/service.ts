// The service as the benchmark measures it: the compiled app on the local host (in the benchmark's
// process, scripts/localHost.ts, so that its storage requests are counted by the same counter as the floor's),
// called over HTTP by the same client as the floor server, with development tokens of local mode.
//
// The app is loaded only when startService runs, after the environment points it at the run's storage.

import { startLocalHostInProcess } from '../localHost';
import type { KeyBody } from './fixtures';
import type { BenchHttpClient } from './httpClient';

const COLLECTION = '/v1.0/bitlocker/recoveryKeys';
const WRITE = ['BitLockerKey.ReadWrite.All'];
const READ = ['BitLockerKey.Read.All'];

/** The operations of the issue's target table, each one HTTP request; any unexpected status throws. */
export interface Service {
  readonly url: string;
  /** PATCH on the collection (escrow a key, or repeat an escrowed one): 200 or 201. */
  patch(body: KeyBody): Promise<void>;
  /** GET one key with `$select=key`: the audited read of the password. */
  getKey(id: string): Promise<void>;
  /**
   * The same read by signed-in helpdesk user `user` (a delegated token, one user per worker): counted
   * against REVEAL_LIMIT_PER_HOUR in storage and announced to the alert webhook before it answers.
   */
  revealAsUser(id: string, user: number): Promise<void>;
  /** GET one key's metadata. */
  get(id: string): Promise<void>;
  /** GET the collection with `$filter=deviceId eq '…'`: one page; resolves to the keys in it. */
  listDevice(deviceId: string): Promise<number>;
  close(): Promise<void>;
}

export function expectStatus(what: string, status: number, body: string, expected: readonly number[] = [200]): void {
  if (!expected.includes(status)) throw new Error(`${what}: expected ${expected.join(' or ')}, got ${status}: ${body.slice(0, 300)}`);
}

/** Starts the local host with the app from `projectRoot`/dist on a free port; `stateDir` holds local mode's keys. */
export async function startService(projectRoot: string, stateDir: string, client: BenchHttpClient): Promise<Service> {
  const { mintDevelopmentToken } = await import('../../shared/auth/developmentToken');
  const writeToken = `Bearer ${await mintDevelopmentToken(stateDir, { roles: WRITE })}`;
  const readToken = `Bearer ${await mintDevelopmentToken(stateDir, { roles: READ })}`;
  const userTokens = new Map<number, string>();
  const userToken = async (user: number): Promise<string> => {
    let bearer = userTokens.get(user);
    if (bearer === undefined) {
      const claims = { oid: `00000000-0000-4000-8000-${String(user).padStart(12, '0')}`, upn: `agent${user}@bench.example` };
      bearer = `Bearer ${await mintDevelopmentToken(stateDir, { scopes: READ, claims })}`;
      userTokens.set(user, bearer);
    }
    return bearer;
  };
  // The per-request log line is formatted but not written: the floor writes none either.
  const host = await startLocalHostInProcess({ projectRoot, requestLog: false });

  const get = async (what: string, pathAndQuery: string): Promise<string> => {
    const answer = await client.request('GET', new URL(pathAndQuery, host.url), { authorization: readToken });
    expectStatus(what, answer.status, answer.body);
    return answer.body;
  };
  return {
    url: host.url,
    patch: async (body) => {
      const answer = await client.request(
        'PATCH',
        new URL(COLLECTION, host.url),
        { authorization: writeToken, 'content-type': 'application/json' },
        JSON.stringify(body),
      );
      expectStatus('PATCH', answer.status, answer.body, [200, 201]);
    },
    getKey: async (id) => void (await get('GET $select=key', `${COLLECTION}/${id}?$select=key`)),
    revealAsUser: async (id, user) => {
      const answer = await client.request('GET', new URL(`${COLLECTION}/${id}?$select=key`, host.url), {
        authorization: await userToken(user),
      });
      expectStatus('reveal by a user', answer.status, answer.body);
    },
    get: async (id) => void (await get('GET', `${COLLECTION}/${id}`)),
    listDevice: async (deviceId) => {
      const body = await get('list by device', `${COLLECTION}?$filter=${encodeURIComponent(`deviceId eq '${deviceId}'`)}`);
      return (JSON.parse(body) as { value: unknown[] }).value.length;
    },
    close: () => host.close(),
  };
}
