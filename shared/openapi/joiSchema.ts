import type { SchemaObject } from './types';

// OpenAPI schemas derived from a joi object's describe() output, so that the document cannot list a
// property, a type, an enum or a required-ness that the validation does not have. What joi cannot
// show (its `custom` rules are opaque functions) comes from hints keyed by property name, and the
// two must name exactly the same properties: adding a property on one side only fails the build of
// the document (and the test that builds it) instead of publishing a stale contract.
//
// Hand-written rather than joi-to-json (5.0.5, tried on this schema): its OpenAPI output leaves out
// every rule it does not know instead of refusing it (string length(3) comes out as a bare
// {type: 'string'}; alphanum, token, lowercase vanish), glues a pattern's flags into its source
// (/^ab$/i becomes '^ab$/i', which matches nothing joi accepts), and cannot tell a custom rule from no
// rule, so the drift checks below would still have to walk describe() themselves. It would also load
// lodash (about 120 ms) on the document's first request.

/** What joi's description cannot show about one property. */
export interface PropertyHint {
  /** Merged over what joi shows, for request bodies; a `type` or `oneOf` here replaces joi's. */
  readonly request: SchemaObject;
  /** How responses carry the property, where that differs from requests: merged over `request`. */
  readonly response?: SchemaObject;
}

/** A hint for every property of a joi object, by property name. */
export type PropertyHints = Readonly<Record<string, PropertyHint>>;

/** One joi object's schemas: as requests must send it, and as responses write it. */
export interface DerivedSchemas {
  /** With `required` and `additionalProperties` as joi enforces them. */
  readonly request: SchemaObject;
  /** The same properties as responses write them; no `required`, since `$select` may drop any. */
  readonly response: SchemaObject;
}

/** joi and the hints disagree, or joi uses something the walker cannot describe: a bug, found by the openapi test. */
export class SchemaDerivationError extends Error {
  override name = 'SchemaDerivationError';
}

interface JoiRule {
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

/** The parts of a joi description that say something about shape; the rest (messages, ...) is ignored. */
interface JoiNode {
  readonly type: string;
  readonly flags: Readonly<Record<string, unknown>>;
  readonly allow: readonly unknown[];
  readonly rules: readonly JoiRule[];
  readonly matches: readonly unknown[];
  readonly keys: Readonly<Record<string, unknown>>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const recordOr = (value: unknown): Readonly<Record<string, unknown>> => (isRecord(value) ? value : {});

const arrayOr = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : []);

function joiNode(value: unknown, where: string): JoiNode {
  if (!isRecord(value) || typeof value.type !== 'string') {
    throw new SchemaDerivationError(`${where}: not a joi description (no type)`);
  }
  const rules = arrayOr(value.rules).map((rule) => {
    if (!isRecord(rule) || typeof rule.name !== 'string') throw new SchemaDerivationError(`${where}: a rule without a name`);
    return { name: rule.name, args: recordOr(rule.args) };
  });
  return {
    type: value.type,
    flags: recordOr(value.flags),
    allow: arrayOr(value.allow),
    rules,
    matches: arrayOr(value.matches),
    keys: recordOr(value.keys),
  };
}

const numericLimit = (args: Readonly<Record<string, unknown>>, where: string): number => {
  if (typeof args.limit !== 'number') throw new SchemaDerivationError(`${where}: a limit that is not a number`);
  return args.limit;
};

/** joi writes a pattern as the RegExp's toString(), `/source/flags`; OpenAPI wants the source. */
function patternSource(args: Readonly<Record<string, unknown>>, where: string): string {
  const match = typeof args.regex === 'string' ? /^\/(.*)\/([a-z]*)$/s.exec(args.regex) : null;
  if (!match || match[2] !== '') throw new SchemaDerivationError(`${where}: only flag-less patterns can be described`);
  return match[1];
}

type RuleEffect = (schema: SchemaObject, args: Readonly<Record<string, unknown>>, where: string) => SchemaObject;

const isString = (schema: SchemaObject): boolean => schema.type === 'string';

// joi rules with an OpenAPI counterpart. Any other rule stops the derivation: silently leaving a rule
// out would publish a contract looser than the validation.
const RULES: Readonly<Record<string, RuleEffect>> = {
  // Opaque; the property's hint says what it checks (derivePropertySchemas insists on one).
  custom: (schema) => schema,
  min: (schema, args, where) =>
    isString(schema) ? { ...schema, minLength: numericLimit(args, where) } : { ...schema, minimum: numericLimit(args, where) },
  max: (schema, args, where) =>
    isString(schema) ? { ...schema, maxLength: numericLimit(args, where) } : { ...schema, maximum: numericLimit(args, where) },
  length: (schema, args, where) => ({ ...schema, minLength: numericLimit(args, where), maxLength: numericLimit(args, where) }),
  pattern: (schema, args, where) => ({ ...schema, pattern: patternSource(args, where) }),
  integer: (schema) => ({ ...schema, type: 'integer' }),
  guid: (schema) => ({ ...schema, format: 'uuid' }),
  isoDate: (schema) => ({ ...schema, format: 'date-time' }),
};

function baseSchema(node: JoiNode, where: string): SchemaObject {
  switch (node.type) {
    case 'string':
    case 'number':
    case 'boolean':
      return { type: node.type };
    case 'date':
      return { type: 'string', format: 'date-time' };
    case 'alternatives':
      return {
        oneOf: node.matches.map((match, i) => {
          if (!isRecord(match) || match.schema === undefined) {
            throw new SchemaDerivationError(`${where}: conditional alternatives cannot be described`);
          }
          return fromJoi(joiNode(match.schema, `${where} alternative ${i + 1}`), `${where} alternative ${i + 1}`);
        }),
      };
    default:
      throw new SchemaDerivationError(`${where}: joi type '${node.type}' has no OpenAPI description here`);
  }
}

function fromJoi(node: JoiNode, where: string): SchemaObject {
  let schema = baseSchema(node, where);
  for (const rule of node.rules) {
    const effect = RULES[rule.name];
    if (!effect) throw new SchemaDerivationError(`${where}: joi rule '${rule.name}' has no OpenAPI description here`);
    schema = effect(schema, rule.args, where);
  }
  if (node.flags.only === true) {
    schema = { ...schema, enum: [...node.allow] };
  } else if (node.allow.length > 0) {
    if (node.allow.some((value) => value !== null)) {
      throw new SchemaDerivationError(`${where}: allow() of values other than null cannot be described`);
    }
    schema = { ...schema, nullable: true };
  }
  if (typeof node.flags.description === 'string') schema = { ...schema, description: node.flags.description };
  return schema;
}

type JsonType = 'string' | 'number' | 'boolean' | 'object' | 'array';

/** The JSON types a schema admits (integer counts as number), to check hints against joi. */
function jsonTypes(schema: SchemaObject): Set<JsonType> {
  if (schema.oneOf) return new Set(schema.oneOf.flatMap((s) => ('$ref' in s ? [] : [...jsonTypes(s)])));
  if (schema.type === undefined) return new Set();
  return new Set([schema.type === 'integer' ? 'number' : schema.type]);
}

const sameSet = <T>(a: Set<T>, b: Set<T>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

function withHint(base: SchemaObject, hint: SchemaObject): SchemaObject {
  if (hint.type === undefined && hint.oneOf === undefined) return { ...base, ...hint };
  const { type: _type, oneOf: _oneOf, ...rest } = base;
  return { ...rest, ...hint };
}

const CONSTRAINING: readonly (keyof SchemaObject)[] = ['pattern', 'format', 'enum', 'oneOf'];

function propertySchemas(name: string, node: JoiNode, hint: PropertyHint): DerivedSchemas {
  const where = `property '${name}'`;
  const derived = fromJoi(node, where);
  const joiTypes = jsonTypes(derived);
  if (node.rules.some((rule) => rule.name === 'custom') && !CONSTRAINING.some((field) => hint.request[field] !== undefined)) {
    throw new SchemaDerivationError(
      `${where}: joi checks it with a custom rule; its hint must say what (a pattern, format, enum or oneOf)`,
    );
  }
  const request = withHint(derived, hint.request);
  if (!sameSet(jsonTypes(request), joiTypes)) {
    throw new SchemaDerivationError(`${where}: the hint's request types differ from joi's (${[...joiTypes].join(', ')})`);
  }
  const response = hint.response ? withHint(request, hint.response) : request;
  if (![...jsonTypes(response)].every((type) => joiTypes.has(type))) {
    throw new SchemaDerivationError(`${where}: the hint's response types are not among joi's (${[...joiTypes].join(', ')})`);
  }
  return { request, response };
}

/**
 * The request and response schemas of a joi object, from its describe() output and a hint for each
 * of its keys. Throws SchemaDerivationError when joi and the hints do not name the same properties,
 * when a hint contradicts joi's types, or when joi uses something this cannot describe.
 */
export function deriveObjectSchemas(description: unknown, hints: PropertyHints): DerivedSchemas {
  const root = joiNode(description, 'joi schema');
  if (root.type !== 'object') throw new SchemaDerivationError(`joi schema: type '${root.type}', expected an object`);
  const names = Object.keys(root.keys);
  const unhinted = names.filter((name) => !Object.hasOwn(hints, name));
  const stale = Object.keys(hints).filter((name) => !Object.hasOwn(root.keys, name));
  if (unhinted.length > 0 || stale.length > 0) {
    throw new SchemaDerivationError(
      [
        unhinted.length > 0 && `joi has properties without an OpenAPI hint: ${unhinted.join(', ')}`,
        stale.length > 0 && `hints name properties joi does not have: ${stale.join(', ')}`,
      ]
        .filter(Boolean)
        .join('; '),
    );
  }
  const request: Record<string, SchemaObject> = {};
  const response: Record<string, SchemaObject> = {};
  const required: string[] = [];
  for (const name of names) {
    const node = joiNode(root.keys[name], `property '${name}'`);
    const schemas = propertySchemas(name, node, hints[name]);
    request[name] = schemas.request;
    response[name] = schemas.response;
    if (node.flags.presence === 'required') required.push(name);
  }
  return {
    request: {
      type: 'object',
      properties: request,
      ...(required.length > 0 && { required }),
      // joi refuses unknown keys unless told otherwise.
      additionalProperties: root.flags.unknown === true,
    },
    response: { type: 'object', properties: response },
  };
}
