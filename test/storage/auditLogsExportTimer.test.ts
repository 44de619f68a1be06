import '../support/functionsCore';
import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Timer } from '@azure/functions';
import { auditLogsExportOnTimer } from '../../functions/auditLogsExport';
import { readExportCheckpoint, saveExportCheckpoint } from '../../shared/audit/exportCheckpoint';
import { auditEvent } from '../../shared/audit/model';
import { writeAuditEntry } from '../../shared/audit/store';
import { resetSettings } from '../../shared/config';
import { tokenParts } from '../support/audit';
import { newId } from '../support/fixtures';
import { quietContext } from '../support/inProcess';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../support/managedIdentity';

// The export timer's failure is a log line operators alert on (docs/alerts.md): `auditLogsExportFailed`,
// error level, with the reason and no token, and the checkpoint stays where it was. The ingestion
// endpoint here is a port nothing listens on; the token comes from the managed-identity stand-in.

jest.setTimeout(60_000);

let identity: ManagedIdentityStandIn;
const saved = { ...process.env };
const RULE = `dcr-${randomBytes(16).toString('hex')}`;

/** A loopback port that was free a moment ago: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  identity = await startManagedIdentityStandIn();
  Object.assign(process.env, {
    AUDIT_LOGS_INGESTION_ENDPOINT: `https://127.0.0.1:${await closedPort()}`,
    AUDIT_LOGS_RULE_ID: RULE,
    IDENTITY_ENDPOINT: identity.endpoint,
    IDENTITY_HEADER: identity.header,
  });
  resetSettings();
});

afterAll(async () => {
  process.env = saved;
  resetSettings();
  await identity.close();
});

it('logs auditLogsExportFailed with the reason and no token, fails the run, and keeps the checkpoint', async () => {
  // An event days old, and the checkpoint just before it: the run's first window holds this event
  // alone, however many events the rest of the suite writes into the shared Azurite meanwhile.
  const at = new Date(Date.now() - 3 * 86_400_000);
  await saveExportCheckpoint(RULE, 'Custom-EscrowAudit_CL', undefined, { exportedThrough: new Date(at.getTime() - 1), exportedEvents: 0 });
  await writeAuditEntry({
    ...auditEvent({ requestId: newId(), caller: { oid: newId(), delegated: false, permissions: new Set() } }, 'read', 'success', '', {
      keyId: newId(),
      deviceId: newId(),
    }),
    at,
  });
  const lines: string[] = [];
  const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
  await expect(auditLogsExportOnTimer(timer, quietContext('auditLogsExport', lines))).rejects.toThrow(/ECONNREFUSED/);
  expect(lines).toHaveLength(1);
  const logged = JSON.parse(lines[0]) as Record<string, unknown>;
  expect(logged).toMatchObject({ event: 'auditLogsExportFailed', reason: expect.stringMatching(/ECONNREFUSED/), exported: 0, batches: 0 });
  const token = await identity.tokenFor('https://monitor.azure.com');
  expect(tokenParts(token).filter((part) => lines[0].includes(part))).toEqual([]);
  // The token was asked for (the upload was tried), and nothing was checkpointed past the failed batch.
  expect(identity.requests.map((request) => request.resource)).toContain('https://monitor.azure.com');
  const checkpoint = await readExportCheckpoint(RULE, 'Custom-EscrowAudit_CL');
  expect(checkpoint === undefined || checkpoint.exportedThrough < at).toBe(true);
});
