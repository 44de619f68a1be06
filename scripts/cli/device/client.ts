import { deviceAuthorization, type DeviceCredentials } from '../../../shared/auth/device/signer';

// The reference client of the EntraDevice protocol: what clients/windows/*.ps1 do, step for step,
// in Node. Used by `npm run device` and by the integration tests.

export const COLLECTION_PATH = '/v1.0/informationProtection/bitlocker/recoveryKeys';
export const DEVICE_STATUSES_PATH = '/v1.0/informationProtection/bitlocker/deviceStatuses';

/** What a device reports of one volume (PUT deviceStatuses/{deviceId}). */
export interface VolumeReport {
  volumeType: string | number;
  protectionStatus: 'on' | 'off' | 'suspended';
  recoveryPasswordIds: string[];
  mountPoint?: string;
  encryptionPercentage?: number;
  keyProtectorTypes?: string[];
}

/** Tries per request: the first and two retries after 429/503. */
const MAX_TRIES = 3;
/** A device has at most a few hundred keys, listed by the hundred: as in the Windows client. */
const MAX_LIST_PAGES = 20;
/** A Retry-After longer than this ends the run instead (the next scheduled run will try again). */
const MAX_WAIT_S = 60;

export interface EscrowedKey {
  id: string;
  deviceId: string;
  volumeType: string;
  createdDateTime: string;
  /** When the helpdesk first read its password: the device must rotate it. */
  '@escrow.disclosedDateTime'?: string;
  /** The id of the key escrowed to replace it. */
  '@escrow.supersededBy'?: string;
}

/** A key protector to escrow; with `@escrow.replaces`, as the successor of a disclosed key. */
export interface KeyToEscrow {
  id: string;
  deviceId: string;
  volumeType: string;
  key: string;
  '@escrow.replaces'?: string;
}

/** The members of a Graph body this client reads: a page of the device's keys, or Graph's error. */
export interface DeviceResponseJson {
  value?: EscrowedKey[];
  '@odata.nextLink'?: string;
  error?: { code: string; message: string };
}

export interface DeviceResponse {
  status: number;
  headers: Headers;
  json: DeviceResponseJson;
  text: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class DeviceClient {
  constructor(
    private readonly baseUrl: string,
    private readonly credentials: DeviceCredentials,
  ) {}

  /**
   * One signed request: signs method, the path and query as fetch sends them (the proof brings them
   * to the canonical form, shared/auth/device/canonical.ts),
   * a fresh ts and nonce, and the exact body bytes; re-signs for every retry after a 429 or 503.
   */
  async send(method: string, path: string, body?: unknown): Promise<DeviceResponse> {
    const url = new URL(path, this.baseUrl);
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    for (let tries = 1; ; tries++) {
      const headers: Record<string, string> = {
        Authorization: deviceAuthorization(this.credentials, { method, pathAndQuery: `${url.pathname}${url.search}`, body: bytes }),
        'User-Agent': 'bitlocker-escrow-device-client/1',
      };
      if (bytes) headers['Content-Type'] = 'application/json';
      const response = await fetch(url, { method, headers, body: bytes, signal: AbortSignal.timeout(30_000) });
      const text = await response.text();
      const retryAfter = Number(response.headers.get('retry-after') ?? '1');
      if ((response.status === 429 || response.status === 503) && tries < MAX_TRIES && retryAfter <= MAX_WAIT_S) {
        await sleep(Math.max(1, retryAfter) * 1000);
        continue;
      }
      return { status: response.status, headers: response.headers, json: text ? (JSON.parse(text) as DeviceResponseJson) : {}, text };
    }
  }

  /** The metadata of this device's escrowed keys (all pages). */
  async listOwnKeys(deviceId: string): Promise<{ status: number; keys: EscrowedKey[]; response: DeviceResponse }> {
    const keys: EscrowedKey[] = [];
    // Written out as the Windows client writes it (test/vectors: "list own keys"), already canonical.
    let path: string | undefined = `${COLLECTION_PATH}?$filter=deviceId%20eq%20%27${deviceId.toLowerCase()}%27`;
    let response: DeviceResponse;
    // A broken or hostile service must not keep a signed loop going: no page twice, and a bound on pages.
    const seen = new Set<string>();
    do {
      if (seen.has(path) || seen.size >= MAX_LIST_PAGES) {
        throw new Error(`the service's next page links go round or past ${MAX_LIST_PAGES} pages`);
      }
      seen.add(path);
      response = await this.send('GET', path);
      if (response.status !== 200) return { status: response.status, keys, response };
      keys.push(...response.json.value!);
      const next = response.json['@odata.nextLink'];
      path = next ? new URL(next).pathname + new URL(next).search : undefined;
    } while (path);
    return { status: 200, keys, response };
  }

  /** Reports what is on the device's disks: PUT deviceStatuses/{deviceId}, on every run, after the escrow. */
  reportStatus(deviceId: string, volumes: VolumeReport[], clientVersion?: string): Promise<DeviceResponse> {
    return this.send('PUT', `${DEVICE_STATUSES_PATH}/${deviceId}`, { volumes, ...(clientVersion && { clientVersion }) });
  }

  /** Escrows one key protector: PATCH {collection} with its id. */
  escrow(key: KeyToEscrow): Promise<DeviceResponse> {
    return this.send('PATCH', COLLECTION_PATH, key);
  }

  /** Retires one of its own keys (allowed to a device once the key is superseded): DELETE {collection}/{id}. */
  deleteKey(id: string): Promise<DeviceResponse> {
    return this.send('DELETE', `${COLLECTION_PATH}/${id}`);
  }
}
