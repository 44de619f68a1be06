import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// A Teams/Slack-style incoming webhook on loopback: takes a JSON POST and answers as told. `accept`
// answers 200 "1" (what a Teams connector answers; Slack answers "ok"), `fail` answers 500, `hang`
// reads the request and never answers (the socket stays open until close()).

export type WebhookMode = 'accept' | 'fail' | 'hang';

export interface ReceivedAlert {
  /** The raw body, as sent: searched for secrets. */
  text: string;
  json: { text: string; summary: string; escrowAlert: Record<string, unknown> & { kind: string; unusual: string[] } };
  contentType: string | undefined;
}

export interface WebhookReceiver {
  readonly url: string;
  mode: WebhookMode;
  /** Every POST that arrived, in order, whatever the answer. */
  readonly received: ReceivedAlert[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(path = '/webhookb2/incoming?sig=secret-signature'): Promise<WebhookReceiver> {
  const sockets = new Set<Socket>();
  const received: ReceivedAlert[] = [];
  const state = { mode: 'accept' as WebhookMode };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      received.push({ text, json: JSON.parse(text) as ReceivedAlert['json'], contentType: req.headers['content-type'] });
      if (state.mode === 'hang') return;
      if (state.mode === 'fail') res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal Server Error');
      else res.writeHead(200, { 'Content-Type': 'text/plain' }).end('1');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    get mode() {
      return state.mode;
    },
    set mode(mode: WebhookMode) {
      state.mode = mode;
    },
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
