import { type LocalHost, startLocalHost } from '../../scripts/devhost/localHost';

/** A private local host whose every printed byte is kept, for tests that search its output for secrets. */
export interface CapturedHost {
  host: LocalHost;
  /** Everything the host printed so far (its start line and request log included). */
  output(): string;
  /** Stops the host and resolves once both its streams have closed, with all it printed. */
  stopAndCollect(): Promise<string>;
}

/** A local host in local auth mode on the run's storage and state folder (its development signing key). */
export async function startCapturedHost(): Promise<CapturedHost> {
  const host = await startLocalHost({
    AUTH_MODE: 'local',
    STORAGE_CONNECTION_STRING: process.env.STORAGE_CONNECTION_STRING,
    LOCAL_STATE_DIR: process.env.LOCAL_STATE_DIR,
  });
  // Everything printed until now (the start line and whatever came before it) is still in the helper's
  // tail; from here on every chunk is captured in full, until both streams have closed.
  let captured = host.output();
  host.child.stdout!.on('data', (chunk: Buffer) => (captured += chunk.toString()));
  host.child.stderr!.on('data', (chunk: Buffer) => (captured += chunk.toString()));
  const closed = new Promise<void>((resolve) => host.child.once('close', () => resolve()));
  return {
    host,
    output: () => captured,
    stopAndCollect: async () => {
      await host.stop();
      await closed;
      return captured;
    },
  };
}
