// The webhook the reveal row's alerts go to: a loopback server that takes each POST and answers 200,
// counting them, so that the row measures a reveal with its alert delivered, as a real one is.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BenchWebhook {
  readonly url: string;
  /** Alerts taken so far. */
  readonly taken: () => number;
  close(): Promise<void>;
}

export async function startBenchWebhook(): Promise<BenchWebhook> {
  let taken = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      taken++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('1');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    taken: () => taken,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
