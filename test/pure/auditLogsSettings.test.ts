import { ConfigError, readSettings } from '../../shared/config';

// The audit export to Log Analytics: on with both the endpoint and the rule id, refused half set.

const ENDPOINT = 'https://escrow-audit-a1b2.westeurope-1.ingest.monitor.azure.com';
const RULE = 'dcr-00112233445566778899aabbccddeeff';

describe('audit export settings', () => {
  it('are off without an endpoint and a rule', () => {
    expect(readSettings({}).auditLogs).toBeUndefined();
  });

  it('take the endpoint, the rule, the default stream and a five-minute schedule', () => {
    expect(
      readSettings({ AUDIT_LOGS_INGESTION_ENDPOINT: `${ENDPOINT}/`, AUDIT_LOGS_RULE_ID: RULE.toUpperCase().replace('DCR-', 'dcr-') })
        .auditLogs,
    ).toEqual({
      endpoint: ENDPOINT,
      ruleId: RULE,
      stream: 'Custom-EscrowAudit_CL',
      schedule: '0 */5 * * * *',
    });
    expect(
      readSettings({
        AUDIT_LOGS_INGESTION_ENDPOINT: ENDPOINT,
        AUDIT_LOGS_RULE_ID: RULE,
        AUDIT_LOGS_STREAM: 'Custom-Escrow',
        AUDIT_LOGS_SCHEDULE: '0 */15 * * * *',
      }).auditLogs,
    ).toMatchObject({ stream: 'Custom-Escrow', schedule: '0 */15 * * * *' });
    // A stand-in on this machine (tests) may be plain http.
    expect(readSettings({ AUDIT_LOGS_INGESTION_ENDPOINT: 'http://127.0.0.1:4000', AUDIT_LOGS_RULE_ID: RULE }).auditLogs?.endpoint).toBe(
      'http://127.0.0.1:4000',
    );
  });

  it.each([
    [{ AUDIT_LOGS_INGESTION_ENDPOINT: ENDPOINT }, /Set both AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID/],
    [{ AUDIT_LOGS_RULE_ID: RULE }, /Set both AUDIT_LOGS_INGESTION_ENDPOINT and AUDIT_LOGS_RULE_ID/],
    [
      { AUDIT_LOGS_INGESTION_ENDPOINT: 'http://escrow.ingest.monitor.azure.com', AUDIT_LOGS_RULE_ID: RULE },
      /AUDIT_LOGS_INGESTION_ENDPOINT must be an https URL/,
    ],
    [{ AUDIT_LOGS_INGESTION_ENDPOINT: `${ENDPOINT}?sig=c2VjcmV0`, AUDIT_LOGS_RULE_ID: RULE }, /must not carry a query/],
    [{ AUDIT_LOGS_INGESTION_ENDPOINT: ENDPOINT, AUDIT_LOGS_RULE_ID: 'escrow-audit' }, /AUDIT_LOGS_RULE_ID must be .*immutable id/],
    [
      { AUDIT_LOGS_INGESTION_ENDPOINT: ENDPOINT, AUDIT_LOGS_RULE_ID: RULE, AUDIT_LOGS_STREAM: 'EscrowAudit_CL' },
      /AUDIT_LOGS_STREAM must be/,
    ],
    [
      { AUDIT_LOGS_INGESTION_ENDPOINT: ENDPOINT, AUDIT_LOGS_RULE_ID: RULE, AUDIT_LOGS_SCHEDULE: '*/5 * * * *' },
      /AUDIT_LOGS_SCHEDULE must be an NCRONTAB/,
    ],
  ])('refuses %j as the app loads, naming the setting, never its value', (env, message) => {
    expect(() => readSettings(env)).toThrow(ConfigError);
    expect(() => readSettings(env)).toThrow(message);
    expect(() => readSettings(env)).not.toThrow(/c2VjcmV0|escrow-audit/);
  });
});
