// The floor: the least any HTTP service over Table Storage can do per request. A bare node:http
// server in the benchmark's process that makes exactly one storage request per HTTP request, with
// the app's own client settings (storageClientOptions: its retry policy and timeouts) on the same
// storage, and does nothing else: no auth, no validation, no sealing, no audit, no log line.
//
//   PUT /floor/{id}   body: a stored record's properties as JSON → one upsertEntity (Replace) of
//                      { partitionKey: id, rowKey: 'recoveryKey', ...body }; 204
//   GET /floor/{id}   → one getEntity(id, 'recoveryKey'); 200 with the entity as JSON (404 if absent)
//
// A service row's p50 divided by the floor's p50 is then what the service costs above one storage
// round trip behind an HTTP hop: the part our code and our request pattern add.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TableClient } from '@azure/data-tables';
import { settings } from '../../shared/config';
import { storageClientOptions } from '../../shared/storage/clientOptions';
import { RECORD_ROW } from '../../shared/storage/layout';

export interface FloorServer {
  /** http://127.0.0.1:{port} */
  readonly url: string;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/**
 * Starts the floor server on a free port of 127.0.0.1, over `table` of the configured storage (the
 * environment's STORAGE_CONNECTION_STRING, as the app reads it). The table must exist.
 */
export async function startFloorServer(table: string): Promise<FloorServer> {
  const target = settings().storage;
  if (target.connectionString === undefined) throw new Error('the floor server needs STORAGE_CONNECTION_STRING');
  const client = TableClient.fromConnectionString(target.connectionString, table, storageClientOptions(target));

  const server = http.createServer((req, res) => {
    const id = decodeURIComponent((req.url ?? '').slice('/floor/'.length));
    const answer = async (): Promise<void> => {
      if (req.method === 'PUT') {
        const properties = JSON.parse(await readBody(req)) as Record<string, unknown>;
        await client.upsertEntity({ ...properties, partitionKey: id, rowKey: RECORD_ROW }, 'Replace');
        res.writeHead(204).end();
      } else {
        const entity = await client.getEntity(id, RECORD_ROW);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entity));
      }
    };
    answer().catch((error: { statusCode?: number }) => {
      res.writeHead(error.statusCode === 404 ? 404 : 500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
