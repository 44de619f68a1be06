// Route templates the way the Functions host reads them (ASP.NET Core routing templates), so that a
// route that works here works the same behind the real host.
//
// Supported: literal segments (case-insensitive), `{name}`, `{name?}` in the last segment,
// `{*name}` / `{**name}` catch-all in the last segment, and inline constraints `{name:c1:c2(arg)}`.
// Unsupported template features throw at registration rather than misroute at request time.

export class RouteTemplateError extends Error {
  override name = 'RouteTemplateError';
}

type ValueTest = (value: string) => boolean;

interface Constraint {
  readonly text: string;
  readonly test: ValueTest;
}

interface LiteralSegment {
  readonly kind: 'literal';
  readonly text: string;
}

interface ParameterSegment {
  readonly kind: 'parameter';
  readonly name: string;
  readonly optional: boolean;
  readonly catchAll: boolean;
  readonly constraints: readonly Constraint[];
}

type Segment = LiteralSegment | ParameterSegment;

export interface RouteTemplate {
  readonly text: string;
  readonly segments: readonly Segment[];
}

export type RouteParams = Record<string, string>;

// ---------------------------------------------------------------------------------------------
// Constraints (the subset of ASP.NET's inline constraints that has an obvious JS equivalent)

const INT32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

// .NET's NumberStyles.Integer: optional surrounding whitespace and a leading sign.
function parseInteger(value: string, range: { min: bigint; max: bigint }): bigint | undefined {
  const match = /^\s*([+-]?\d+)\s*$/.exec(value);
  if (!match) return undefined;
  const parsed = BigInt(match[1]);
  return parsed >= range.min && parsed <= range.max ? parsed : undefined;
}

// Guid.TryParse accepts the D, N, B and P formats (and X, which nobody puts in a URL).
const GUID =
  /^\s*(?:[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}|[0-9a-f]{32}|\{[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\}|\([0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}\))\s*$/i;

function integerArgs(name: string, arg: string | undefined, count: number): bigint[] {
  const parts = arg === undefined ? [] : arg.split(',');
  const values = parts.map((part) => parseInteger(part, INT64));
  if (values.length !== count || values.some((v) => v === undefined)) {
    throw new RouteTemplateError(`Constraint '${name}' needs ${count} whole-number argument(s)`);
  }
  return values as bigint[];
}

function noArgs(name: string, arg: string | undefined): void {
  if (arg !== undefined) throw new RouteTemplateError(`Constraint '${name}' takes no argument`);
}

const constraintFactories: Readonly<Record<string, (arg: string | undefined) => ValueTest>> = {
  alpha: (arg) => {
    noArgs('alpha', arg);
    return (value) => /^[a-z]*$/i.test(value);
  },
  int: (arg) => {
    noArgs('int', arg);
    return (value) => parseInteger(value, INT32) !== undefined;
  },
  long: (arg) => {
    noArgs('long', arg);
    return (value) => parseInteger(value, INT64) !== undefined;
  },
  bool: (arg) => {
    noArgs('bool', arg);
    return (value) => /^\s*(?:true|false)\s*$/i.test(value);
  },
  guid: (arg) => {
    noArgs('guid', arg);
    return (value) => GUID.test(value);
  },
  min: (arg) => {
    const [min] = integerArgs('min', arg, 1);
    return (value) => (parseInteger(value, INT64) ?? min - 1n) >= min;
  },
  max: (arg) => {
    const [max] = integerArgs('max', arg, 1);
    return (value) => (parseInteger(value, INT64) ?? max + 1n) <= max;
  },
  range: (arg) => {
    const [min, max] = integerArgs('range', arg, 2);
    return (value) => {
      const parsed = parseInteger(value, INT64);
      return parsed !== undefined && parsed >= min && parsed <= max;
    };
  },
  minlength: (arg) => {
    const [min] = integerArgs('minlength', arg, 1);
    return (value) => value.length >= min;
  },
  maxlength: (arg) => {
    const [max] = integerArgs('maxlength', arg, 1);
    return (value) => value.length <= max;
  },
  length: (arg) => {
    const bounds = arg?.includes(',') ? integerArgs('length', arg, 2) : integerArgs('length', arg, 1);
    const [min, max] = bounds.length === 2 ? bounds : [bounds[0], bounds[0]];
    return (value) => value.length >= min && value.length <= max;
  },
  regex: (arg) => {
    if (arg === undefined || arg === '') throw new RouteTemplateError(`Constraint 'regex' needs a pattern`);
    let pattern: RegExp;
    try {
      // ASP.NET uses IgnoreCase | CultureInvariant and an unanchored IsMatch; callers anchor with ^...$.
      pattern = new RegExp(arg, 'i');
    } catch (err) {
      throw new RouteTemplateError(`Constraint 'regex(${arg})' is not a valid regular expression: ${(err as Error).message}`);
    }
    return (value) => pattern.test(value);
  },
};

function parseConstraints(text: string, parameterName: string): Constraint[] {
  const constraints: Constraint[] = [];
  let rest = text;
  while (rest !== '') {
    if (!rest.startsWith(':')) throw new RouteTemplateError(`Malformed constraints on parameter '${parameterName}'`);
    rest = rest.slice(1);
    const nameMatch = /^[A-Za-z]+/.exec(rest);
    if (!nameMatch) throw new RouteTemplateError(`Empty constraint on parameter '${parameterName}'`);
    const name = nameMatch[0];
    rest = rest.slice(name.length);
    let arg: string | undefined;
    if (rest.startsWith('(')) {
      // The argument runs to a ')' that ends the text or precedes the next constraint, so a regex
      // may itself contain parentheses and colons.
      let end = -1;
      for (let i = 1; i < rest.length; i++) {
        if (rest[i] === ')' && (i === rest.length - 1 || rest[i + 1] === ':')) {
          end = i;
          break;
        }
      }
      if (end < 0) throw new RouteTemplateError(`Unclosed '(' in constraint '${name}' on parameter '${parameterName}'`);
      arg = rest.slice(1, end);
      rest = rest.slice(end + 1);
    }
    const factory = constraintFactories[name.toLowerCase()];
    if (!factory) throw new RouteTemplateError(`Unknown route constraint '${name}' on parameter '${parameterName}'`);
    constraints.push({ text: arg === undefined ? name : `${name}(${arg})`, test: factory(arg) });
  }
  return constraints;
}

// ---------------------------------------------------------------------------------------------
// Template parsing

interface RawPart {
  readonly kind: 'literal' | 'parameter';
  readonly text: string;
}

/** Splits a template into segments of parts, honouring `{{` / `}}` escapes and braces. */
function tokenize(template: string): RawPart[][] {
  const segments: RawPart[][] = [];
  let parts: RawPart[] = [];
  let literal = '';
  const flushLiteral = (): void => {
    if (literal !== '') parts.push({ kind: 'literal', text: literal });
    literal = '';
  };

  let i = 0;
  while (i < template.length) {
    const ch = template[i];
    const next = template[i + 1];
    if (ch === '/') {
      flushLiteral();
      segments.push(parts);
      parts = [];
      i++;
    } else if ((ch === '{' && next === '{') || (ch === '}' && next === '}')) {
      literal += ch;
      i += 2;
    } else if (ch === '}') {
      throw new RouteTemplateError(`Unmatched '}' in route template '${template}'`);
    } else if (ch === '{') {
      flushLiteral();
      let text = '';
      let j = i + 1;
      for (;;) {
        if (j >= template.length) throw new RouteTemplateError(`Unclosed '{' in route template '${template}'`);
        const c = template[j];
        if ((c === '{' || c === '}') && template[j + 1] === c) {
          text += c;
          j += 2;
        } else if (c === '}') {
          break;
        } else if (c === '{') {
          throw new RouteTemplateError(`Unescaped '{' inside a parameter in route template '${template}'`);
        } else {
          text += c;
          j++;
        }
      }
      parts.push({ kind: 'parameter', text });
      i = j + 1;
    } else {
      literal += ch;
      i++;
    }
  }
  flushLiteral();
  segments.push(parts);
  return segments;
}

function parseParameter(text: string, template: string): ParameterSegment {
  let rest = text;
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  let optional = false;
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  const nameMatch = /^[^:=?*{}/]+/.exec(rest);
  if (!nameMatch) throw new RouteTemplateError(`A parameter in route template '${template}' has no valid name`);
  const name = nameMatch[0];
  rest = rest.slice(name.length);
  if (rest.includes('=')) {
    throw new RouteTemplateError(`Default values ('${name}=...') are not supported by this host (route '${template}')`);
  }
  if (catchAll && optional) {
    throw new RouteTemplateError(`A catch-all parameter cannot be marked optional (route '${template}')`);
  }
  return { kind: 'parameter', name, optional, catchAll, constraints: parseConstraints(rest, name) };
}

export function parseRouteTemplate(template: string): RouteTemplate {
  // Like ASP.NET, accept an app-relative '~/' or '/' prefix and a trailing '/'.
  let text = template.trim().replace(/^~?\//, '');
  if (text.endsWith('/')) text = text.slice(0, -1);

  const segments: Segment[] = [];
  const names = new Set<string>();
  const rawSegments = text === '' ? [] : tokenize(text);
  rawSegments.forEach((parts, index) => {
    const isLast = index === rawSegments.length - 1;
    if (parts.length === 0) {
      throw new RouteTemplateError(`Route template '${template}' has an empty segment ('//')`);
    }
    if (parts.length > 1) {
      throw new RouteTemplateError(
        `Route template '${template}' mixes literals and parameters in one segment; this host does not support that`,
      );
    }
    const [part] = parts;
    if (part.kind === 'literal') {
      if (part.text.includes('?')) {
        throw new RouteTemplateError(`Route template '${template}' has a '?' outside a parameter`);
      }
      segments.push({ kind: 'literal', text: part.text });
      return;
    }
    const parameter = parseParameter(part.text, template);
    const key = parameter.name.toLowerCase();
    if (names.has(key)) throw new RouteTemplateError(`Parameter '${parameter.name}' appears twice in route '${template}'`);
    names.add(key);
    if ((parameter.catchAll || parameter.optional) && !isLast) {
      throw new RouteTemplateError(`Only the last segment may hold a catch-all or optional parameter (route '${template}')`);
    }
    segments.push(parameter);
  });
  return { text: template, segments };
}

// ---------------------------------------------------------------------------------------------
// Matching

/**
 * Kestrel decodes the request path except for %2F, so an encoded slash never splits a segment and
 * stays `%2F` in the value. Sequences that are not valid UTF-8 stay as they were.
 */
export function decodePathSegment(segment: string): string {
  return segment.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
    run
      .split(/(%2[Ff])/)
      .map((piece) => {
        if (/^%2[Ff]$/.test(piece)) return piece;
        try {
          return decodeURIComponent(piece);
        } catch {
          return piece;
        }
      })
      .join(''),
  );
}

/** Splits a raw (still percent-encoded) URL path into decoded segments; one trailing '/' is ignored. */
export function splitPath(rawPath: string): string[] {
  let path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  if (path.endsWith('/')) path = path.slice(0, -1);
  return path === '' ? [] : path.split('/').map(decodePathSegment);
}

function sameLiteral(a: string, b: string): boolean {
  return a.length === b.length && a.toUpperCase() === b.toUpperCase();
}

function passes(parameter: ParameterSegment, value: string): boolean {
  return parameter.constraints.every((constraint) => constraint.test(value));
}

/** Route values for a path (already split by splitPath), or undefined if the template does not match. */
export function matchSegments(route: RouteTemplate, pathSegments: readonly string[]): RouteParams | undefined {
  const params: RouteParams = {};
  for (let i = 0; i < route.segments.length; i++) {
    const segment = route.segments[i];
    if (segment.kind === 'parameter' && segment.catchAll) {
      const rest = pathSegments.slice(i).join('/');
      if (rest === '') return params;
      if (!passes(segment, rest)) return undefined;
      params[segment.name] = rest;
      return params;
    }
    if (i >= pathSegments.length) {
      return segment.kind === 'parameter' && segment.optional ? params : undefined;
    }
    const value = pathSegments[i];
    if (segment.kind === 'literal') {
      if (!sameLiteral(segment.text, value)) return undefined;
    } else {
      if (value === '' || !passes(segment, value)) return undefined;
      params[segment.name] = value;
    }
  }
  return pathSegments.length === route.segments.length ? params : undefined;
}

export function matchRoute(route: RouteTemplate, rawPath: string): RouteParams | undefined {
  return matchSegments(route, splitPath(rawPath));
}

/**
 * Order in which routes are tried, as the Functions HTTP extension sorts them (WebJobsRouteBuilder):
 * segment by segment a literal beats a parameter and a parameter with more constraints beats one
 * with fewer; a longer template beats its own prefix, unless it goes on with a catch-all. Where the host would call it a tie, a plain
 * parameter beats a catch-all, so a `{*path}` fallback never shadows a real route.
 */
export function compareRoutePrecedence(x: RouteTemplate, y: RouteTemplate): number {
  for (let i = 0; i < x.segments.length; i++) {
    const a = x.segments[i];
    if (i >= y.segments.length) return a.kind === 'parameter' && a.catchAll ? 1 : -1;
    const b = y.segments[i];
    if (a.kind === 'literal' && b.kind === 'parameter') return -1;
    if (a.kind === 'parameter' && b.kind === 'literal') return 1;
    if (a.kind === 'parameter' && b.kind === 'parameter') {
      if (a.constraints.length !== b.constraints.length) return b.constraints.length - a.constraints.length;
      if (a.catchAll !== b.catchAll) return a.catchAll ? 1 : -1;
    } else if (a.kind === 'literal' && b.kind === 'literal') {
      const left = a.text.toUpperCase();
      const right = b.text.toUpperCase();
      if (left !== right) return left < right ? -1 : 1;
    }
  }
  if (y.segments.length <= x.segments.length) return 0;
  // A catch-all may match nothing, so `{*path}` also matches what a shorter template matches exactly
  // (`` and `/`); ASP.NET ranks the exact template first, as it ranks `a` before `a/{*rest}`.
  const next = y.segments[x.segments.length];
  return next.kind === 'parameter' && next.catchAll ? -1 : 1;
}

// ---------------------------------------------------------------------------------------------
// Route table

export interface RouteEntry<T> {
  readonly template: RouteTemplate;
  /** Upper-case; empty means any method. */
  readonly methods: ReadonlySet<string>;
  readonly target: T;
}

export interface RouteMatch<T> {
  readonly target: T;
  readonly params: RouteParams;
  readonly template: RouteTemplate;
}

export class RouteTable<T> {
  readonly #entries: RouteEntry<T>[] = [];

  /** Parses and inserts a route; throws RouteTemplateError for a template this host cannot serve. */
  add(template: string, methods: readonly string[], target: T): RouteEntry<T> {
    const entry: RouteEntry<T> = {
      template: parseRouteTemplate(template),
      methods: new Set(methods.map((m) => m.toUpperCase())),
      target,
    };
    // Insert after every entry that sorts before or equal to it: ties keep registration order.
    let index = this.#entries.length;
    while (index > 0 && compareRoutePrecedence(entry.template, this.#entries[index - 1].template) < 0) index--;
    this.#entries.splice(index, 0, entry);
    return entry;
  }

  get entries(): readonly RouteEntry<T>[] {
    return this.#entries;
  }

  /**
   * The first route, in precedence order, whose template matches and whose methods include the
   * request's. A template match with the wrong method falls through to later routes (and to 404),
   * as in the host, where the method is just another route constraint.
   */
  match(method: string, rawPath: string): RouteMatch<T> | undefined {
    const segments = splitPath(rawPath);
    const upperMethod = method.toUpperCase();
    for (const entry of this.#entries) {
      if (entry.methods.size > 0 && !entry.methods.has(upperMethod)) continue;
      const params = matchSegments(entry.template, segments);
      if (params) return { target: entry.target, params, template: entry.template };
    }
    return undefined;
  }
}

/** Prepends host.json's routePrefix the way the host does ('' means none). */
export function withRoutePrefix(routePrefix: string, route: string): string {
  const prefix = routePrefix.replace(/^\/+|\/+$/g, '');
  const body = route.replace(/^~?\/+/, '');
  return prefix === '' ? body : `${prefix}/${body}`;
}
