import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import draft7MetaSchema from 'ajv/dist/refs/json-schema-draft-07.json';
import { parse as parseYaml } from 'yaml';

// azure.yaml against the schema azd publishes (vendored under test/infra/vendor/azd, SOURCE.md names
// the commit), with the schemas it references by URL registered under those URLs.

const ROOT = join(__dirname, '..', '..');
const VENDOR = join(__dirname, 'vendor', 'azd');
const PUBLISHED = 'https://raw.githubusercontent.com/Azure/azure-dev/main/';

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return jsonFiles(path);
    return entry.name.endsWith('.json') ? [path] : [];
  });
}

function validatorForAzureYaml() {
  // strict off: the published schema carries keywords ajv does not define. Formats unchecked: in
  // draft 2019-09 `format` is an annotation unless a validator opts in, and azd does not check them.
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  ajv.addMetaSchema(draft7MetaSchema);
  for (const file of jsonFiles(VENDOR)) {
    const url = PUBLISHED + relative(VENDOR, file).split(sep).join('/');
    ajv.addSchema(JSON.parse(readFileSync(file, 'utf8')) as object, url);
  }
  const validate = ajv.getSchema(`${PUBLISHED}schemas/v1.0/azure.yaml.json`);
  if (!validate) throw new Error('the vendored azure.yaml schema did not load');
  return validate;
}

const azureYaml = parseYaml(readFileSync(join(ROOT, 'azure.yaml'), 'utf8')) as Record<string, unknown>;

describe('azure.yaml', () => {
  const validate = validatorForAzureYaml();

  it("validates against azd's published schema", () => {
    expect(validate(azureYaml) ? [] : validate.errors).toEqual([]);
  });

  it('is checked by a schema that rejects what azd rejects', () => {
    expect(validate({ ...azureYaml, services: { api: { project: '.', language: 'js', host: 'function', remoteBuild: 'no' } } })).toBe(false);
    expect(validate({ ...azureYaml, requiredVersions: { azd: '>= 1.23.13', node: '22' } })).toBe(false);
  });

  it('pins remoteBuild and the oldest azd that honours it and parses .funcignore right', () => {
    expect(azureYaml.requiredVersions).toEqual({ azd: '>= 1.23.13' });
    expect((azureYaml.services as Record<string, Record<string, unknown>>).api.remoteBuild).toBe(false);
  });
});
