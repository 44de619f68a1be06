export default async function globalTeardown(): Promise<void> {
  const services = globalThis.__escrowServices;
  if (!services) return;
  await services.stopHost();
  await services.stopAzurite();
}
