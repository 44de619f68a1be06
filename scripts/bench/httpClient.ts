// A minimal keep-alive HTTP client for the benchmark: node:http with one pooled agent, so the client
// side costs as little as possible next to the server being measured (fetch/undici costs more CPU).

import * as http from 'node:http';

export interface HttpAnswer {
  status: number;
  body: string;
}

export class BenchHttpClient {
  private readonly agent: http.Agent;

  constructor(maxSockets: number) {
    // Idle sockets are dropped after 4 s, before the server's 5 s keep-alive timeout can close them under a request.
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: 4_000 });
  }

  async request(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    try {
      return await this.send(method, url, headers, body);
    } catch (error) {
      // A kept-alive socket the server closed just as the request went out: sent again once on a fresh
      // socket, as Node's documentation recommends (request.reusedSocket).
      if ((error as { reusedSocket?: boolean; code?: string }).reusedSocket && (error as { code?: string }).code === 'ECONNRESET') {
        return this.send(method, url, headers, body);
      }
      throw error;
    }
  }

  private send(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body);
      const req = http.request(
        {
          method,
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          agent: this.agent,
          headers: payload ? { ...headers, 'content-length': String(payload.length) } : headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.once('error', reject);
        },
      );
      req.once('error', (error: Error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
