import { call } from '../support/client';

// The local host keeps an idle connection long enough that a client slowed by a busy machine does not
// send a request on one the host is closing (undici reuses a connection until the server's hint, less a second).
it('keeps an idle connection for a minute, and says so', async () => {
  const response = await call('GET', '/health');
  expect(response.status).toBe(200);
  const [, seconds] = /timeout=(\d+)/.exec(response.headers.get('keep-alive') ?? '') ?? [];
  expect(Number(seconds)).toBeGreaterThanOrEqual(60);
});
