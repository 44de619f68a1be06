import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The compiled deployment: `npm run infra:build`'s script run into a temporary folder (so parallel
// tests never read a half-written dist/infra/main.json), parsed, with the nested module flattened
// into one list of resources for assertions.

const ROOT = join(__dirname, '..', '..');

export interface ArmResource {
  type: string;
  name: string;
  apiVersion: string;
  scope?: string;
  condition?: string | boolean;
  kind?: string;
  sku?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  properties?: Record<string, unknown> | string;
}

export interface ArmParameter {
  type: string;
  defaultValue?: unknown;
  allowedValues?: unknown[];
  metadata?: Record<string, unknown>;
}

export interface ArmOutput {
  type: string;
  value: string;
}

export interface ArmTemplate {
  parameters: Record<string, ArmParameter>;
  variables?: Record<string, unknown>;
  /** An array, or (languageVersion 2.0, which some Bicep features switch to) an object by symbolic name. */
  resources: ArmResource[] | Record<string, ArmResource>;
  outputs: Record<string, ArmOutput>;
}

export function resourceList(template: ArmTemplate): ArmResource[] {
  return Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
}

export interface CompiledInfra {
  /** What the build script printed on stdout. */
  buildOutput: string;
  main: ArmTemplate;
  /** infra/resources.bicep as the module nested in main. */
  resources: ArmTemplate;
}

export function compileInfra(): CompiledInfra {
  const outDir = mkdtempSync(join(tmpdir(), 'escrow-infra-'));
  try {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build', 'tools', 'infraBuild.cjs'), '--outdir', outDir], {
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`infra:build failed (${run.status}):\n${run.stdout}${run.stderr}`);
    const main = JSON.parse(readFileSync(join(outDir, 'main.json'), 'utf8')) as ArmTemplate;
    const module = resourceList(main).find((resource) => resource.type === 'Microsoft.Resources/deployments');
    const template = (module?.properties as { template?: ArmTemplate } | undefined)?.template;
    if (!template) throw new Error('main.json nests no module template');
    return { buildOutput: run.stdout, main, resources: template };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

export function resourcesOfType(template: ArmTemplate, type: string): ArmResource[] {
  return resourceList(template).filter((resource) => resource.type === type);
}

export function onlyResourceOfType(template: ArmTemplate, type: string): ArmResource {
  const found = resourcesOfType(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

export function propertiesOf(resource: ArmResource): Record<string, unknown> {
  if (typeof resource.properties !== 'object') throw new Error(`${resource.type} has computed properties`);
  return resource.properties;
}

/** Properties that Bicep compiled into one ARM expression (a union(...), say) rather than an object. */
export function propertiesExpressionOf(resource: ArmResource): string {
  if (typeof resource.properties !== 'string') throw new Error(`${resource.type} has literal properties`);
  return resource.properties;
}

/** The parameters main passes to its module (infra/resources.bicep), as ARM expressions. */
export function moduleParameters(main: ArmTemplate): Record<string, unknown> {
  const module = resourceList(main).find((resource) => resource.type === 'Microsoft.Resources/deployments');
  return (module?.properties as { parameters: Record<string, unknown> }).parameters;
}
