import { mkdtemp } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alternativeSecurityIdKey, CERTIFICATE_SECURITY_ID_TYPE } from '../../../shared/auth/device/alternativeSecurityId';
import { readDeviceCertificate } from '../../../shared/auth/device/certificate';
import { registerLocalDevice } from '../../../shared/auth/device/localDirectory';
import { mintDevelopmentToken } from '../../../shared/auth/developmentToken';
import { startAzuriteTables } from '../../devhost/azurite';
import { startLocalHost } from '../../devhost/localHost';

// The stage the Windows client's Pester suite (test/windows) plays against, in a process of its own so
// that nothing it serves waits on the PowerShell that calls it: the local host with DEVICE_AUTH=local
// (on the run's Azurite, STORAGE_CONNECTION_STRING, or its own in-memory one) behind a proxy that
//   - forwards every request unchanged (Host included), after dropping a leading /escrow, as an API
//     Management or Front Door prefix is dropped (the host's PUBLIC_BASE_URL is <proxy>/escrow);
//   - answers instead of the host when a queued fault matches (429 with Retry-After, an HTML page, a
//     redirect to a sign-in page, a huge body...), so no test depends on timing or on the host failing;
//   - records each request's method, path and arrival time, so a test can see retries and waits.
// Control, on the same port: POST /__stage/faults (a JSON array of Fault, replacing the queue),
// GET|DELETE /__stage/requests, POST /__stage/devices {certificateDerBase64} (records a device in the
// local directory, as Entra ID lists it), POST /__stage/token {roles} (a development token for the host,
// e.g. a helpdesk reader's). Prints one JSON line {url, stateDir} when ready; stops when
// its stdin closes.

interface Fault {
  /** Matches a request with this method (any when absent). */
  method?: string;
  /** ...whose body contains this text (any when absent). */
  bodyIncludes?: string;
  /** ...whose path and query contain this text (any when absent). */
  pathIncludes?: string;
  /** How many matching requests it answers (1 when absent). */
  times?: number;
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** The body repeated this many times (a huge answer). */
  repeat?: number;
  /** Drops the connection instead of answering (the client sees a transport error). */
  drop?: boolean;
}

interface SeenRequest {
  method: string;
  path: string;
  at: number;
}

const PREFIX = '/escrow';

const readBody = (req: http.IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function sendFault(res: http.ServerResponse, fault: Fault): void {
  if (fault.drop) {
    res.socket?.destroy();
    return;
  }
  res.writeHead(fault.status, fault.headers ?? {});
  const body = fault.body ?? '';
  if (!fault.repeat) {
    res.end(body);
    return;
  }
  let left = fault.repeat;
  const write = (): void => {
    while (left > 0) {
      left--;
      if (!res.write(body)) {
        res.once('drain', write);
        return;
      }
    }
    res.end();
  };
  res.on('error', () => undefined);
  write();
}

async function main(): Promise<void> {
  let faults: Fault[] = [];
  let seen: SeenRequest[] = [];
  const stateDir = await mkdtemp(join(tmpdir(), 'escrow-windows-stage-'));
  const azurite = process.env.STORAGE_CONNECTION_STRING ? undefined : await startAzuriteTables({ port: 0, inMemory: true, silent: true });
  let hostUrl = '';

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, path: string, body: Buffer): void => {
    const target = new URL(hostUrl);
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path, headers: req.headers },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    upstream.on('error', () => answer(res, 502, { error: { code: 'stageUpstream', message: 'the host did not answer' } }));
    upstream.end(body);
  };

  const control = async (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> => {
    const route = `${req.method} ${req.url}`;
    if (route === 'POST /__stage/faults') {
      faults = JSON.parse(body.toString('utf8')) as Fault[];
      return answer(res, 200, { queued: faults.length });
    }
    if (route === 'GET /__stage/requests') return answer(res, 200, seen);
    if (route === 'DELETE /__stage/requests') {
      seen = [];
      return answer(res, 200, {});
    }
    if (route === 'POST /__stage/devices') {
      const { certificateDerBase64 } = JSON.parse(body.toString('utf8')) as { certificateDerBase64: string };
      const certificate = readDeviceCertificate(Buffer.from(certificateDerBase64, 'base64'));
      await registerLocalDevice(stateDir, {
        deviceId: certificate.deviceId,
        accountEnabled: true,
        alternativeSecurityIds: [
          { type: CERTIFICATE_SECURITY_ID_TYPE, identityProvider: null, key: alternativeSecurityIdKey(certificate) },
        ],
      });
      return answer(res, 200, { deviceId: certificate.deviceId });
    }
    if (route === 'POST /__stage/token') {
      const { roles } = JSON.parse(body.toString('utf8')) as { roles: string[] };
      return answer(res, 200, { token: await mintDevelopmentToken(stateDir, { roles }) });
    }
    answer(res, 404, {});
  };

  const proxy = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = req.url ?? '/';
      if (url.startsWith('/__stage/')) return control(req, res, body);
      seen.push({ method: req.method ?? '', path: url, at: Date.now() });
      const text = body.toString('utf8');
      const fault = faults.find(
        (f) =>
          (!f.method || f.method === req.method) &&
          (!f.bodyIncludes || text.includes(f.bodyIncludes)) &&
          (!f.pathIncludes || url.includes(f.pathIncludes)) &&
          (f.times ?? 1) > 0,
      );
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        return sendFault(res, fault);
      }
      forward(req, res, url.startsWith(`${PREFIX}/`) ? url.slice(PREFIX.length) : url, body);
    })().catch(() => answer(res, 500, { error: { code: 'stage', message: 'the stage failed' } }));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const host = await startLocalHost({
    DEVICE_AUTH: 'local',
    LOCAL_STATE_DIR: stateDir,
    PUBLIC_BASE_URL: `${url}${PREFIX}`,
    ...(azurite ? { STORAGE_CONNECTION_STRING: azurite.connectionString } : {}),
  });
  hostUrl = host.url;
  process.stdout.write(`${JSON.stringify({ url, stateDir })}\n`);

  const stop = async (): Promise<void> => {
    proxy.close();
    proxy.closeAllConnections();
    await host.stop();
    await azurite?.stop();
    process.exit(0);
  };
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.on('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
