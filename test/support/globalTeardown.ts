export default async function globalTeardown(): Promise<void> {
  const services = globalThis.__escrowServices;
  if (!services) return;
  const exited = new Promise<void>((resolve) => {
    if (services.host.exitCode !== null) resolve();
    else services.host.once('exit', () => resolve());
  });
  services.host.kill('SIGTERM');
  await exited;
  await services.stopAzurite();
}
