import { expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIVITY_NAMES } from '../../shared/audit/model';

// The Sentinel analytics rules (infra/sentinel/escrowAuditAlerts.json) are an ARM template deployed
// into the workspace that receives the exported trail: they must parse, have the shape of scheduled
// alert rules, read the table the export writes, and name only activities the service writes (a
// renamed activity would leave a rule that never fires, silently).

interface ScheduledRule {
  type: string;
  apiVersion: string;
  name: string;
  kind: string;
  properties: {
    displayName: string;
    severity: string;
    enabled: boolean;
    query: string;
    queryFrequency: string;
    queryPeriod: string;
    triggerOperator: string;
    triggerThreshold: number;
    tactics: string[];
    customDetails: Record<string, string>;
  };
}

const template = JSON.parse(readFileSync(join(__dirname, '../../infra/sentinel/escrowAuditAlerts.json'), 'utf8')) as {
  $schema: string;
  parameters: Record<string, { type: string }>;
  resources: ScheduledRule[];
};
const rules = template.resources;
const ISO_DURATION = /^P(T(\d+H)?(\d+M)?|\d+D)$/;

it('is an ARM deployment template of scheduled Sentinel rules, each with its own GUID', () => {
  expect(template.$schema).toBe('https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#');
  expect(template.parameters).toEqual({ workspace: expect.objectContaining({ type: 'string' }) });
  expect(rules.length).toBeGreaterThanOrEqual(3);
  for (const rule of rules) {
    expect(rule).toMatchObject({ type: 'Microsoft.OperationalInsights/workspaces/providers/alertRules', kind: 'Scheduled' });
    expect(rule.name).toMatch(/^\[concat\(parameters\('workspace'\), '\/Microsoft\.SecurityInsights\/[0-9a-f-]{36}'\)\]$/);
    expect(rule.properties).toMatchObject({ enabled: true, triggerOperator: 'GreaterThan', triggerThreshold: 0 });
    expect(['High', 'Medium', 'Low', 'Informational']).toContain(rule.properties.severity);
    expect(rule.properties.queryFrequency).toMatch(ISO_DURATION);
    expect(rule.properties.queryPeriod).toMatch(ISO_DURATION);
  }
  expect(new Set(rules.map((rule) => rule.name)).size).toBe(rules.length);
});

/** An ISO 8601 duration of hours and minutes (PT1H15M) in minutes. */
const minutesOf = (duration: string): number => {
  const [, hours, minutes] = /^PT(?:(\d+)H)?(?:(\d+)M)?$/.exec(duration) ?? [];
  return Number(hours ?? 0) * 60 + Number(minutes ?? 0);
};

it('looks back further than its schedule and counts each row once, by when it was ingested', () => {
  // The export delivers rows minutes after the event (docs/alerts.md): a look-back of exactly the
  // schedule would miss a row that lands after its run; the ingestion-time filter keeps the longer
  // look-back from counting a row in two runs.
  for (const { properties } of rules) {
    const every = minutesOf(properties.queryFrequency);
    expect(minutesOf(properties.queryPeriod)).toBeGreaterThanOrEqual(every + 15);
    const [, since, unit] = /\| where ingestion_time\(\) > ago\((\d+)([mh])\)\n/.exec(properties.query) ?? [];
    expect(Number(since) * (unit === 'h' ? 60 : 1)).toBe(every);
  }
});

it('reads EscrowAudit_CL and names only activity display names the service writes', () => {
  const named = new Set<string>();
  for (const { properties } of rules) {
    expect(properties.query).toMatch(/^(let [^\n]+\n)*EscrowAudit_CL\n/);
    for (const match of properties.query.matchAll(/activityDisplayName == "([^"]+)"/g)) named.add(match[1]);
    // Every custom detail is a column the query makes.
    for (const column of Object.values(properties.customDetails)) expect(properties.query).toMatch(new RegExp(`\\b${column}\\b`));
  }
  expect([...named].filter((name) => !ACTIVITY_NAMES.includes(name))).toEqual([]);
  expect([...named].sort()).toEqual(['Claim BitLocker key id held by another device', 'Read BitLocker key']);
});

it('matches the refusals by the texts the service writes into resultReason', () => {
  const refused = rules.find((rule) => rule.properties.query.includes('"failure"'))!.properties.query;
  // The audit scope records a refusal as `{status} {code}: {message}`; the codes and the setting's name are in the messages.
  expect(refused).toContain('resultReason startswith "429 tooManyRequests"');
  expect(refused).toContain('resultReason has "ALERT_FAIL_CLOSED"');
  const raise = readFileSync(join(__dirname, '../../shared/alerts/raise.ts'), 'utf8');
  expect(raise).toContain('(ALERT_FAIL_CLOSED)');
  const collision = rules.find((rule) => rule.properties.query.includes('Claim BitLocker'))!.properties.query;
  expect(collision).toContain('held by device ([0-9a-fA-F-]{36})');
  expect(readFileSync(join(__dirname, '../../shared/recoveryKeys/service.ts'), 'utf8')).toContain(
    'is already held by device ${heldBy.deviceId}',
  );
});
