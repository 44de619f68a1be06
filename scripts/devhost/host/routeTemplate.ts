// Route templates the way the Functions host reads them (ASP.NET Core routing templates), reduced to
// what a Functions app's routes need and this app uses: literal segments (case-insensitive), `{name}`,
// `{name?}` in the last segment and a catch-all `{*name}` / `{**name}` in the last segment. Inline
// constraints (`{id:guid}`), defaults and segments mixing text and parameters throw at registration,
// so that a route never works here and misroutes behind the real host.

export class RouteTemplateError extends Error {
  override name = 'RouteTemplateError';
}

export interface LiteralSegment {
  readonly kind: 'literal';
  readonly text: string;
}

export interface ParameterSegment {
  readonly kind: 'parameter';
  readonly name: string;
  readonly optional: boolean;
  readonly catchAll: boolean;
}

export type Segment = LiteralSegment | ParameterSegment;

export interface RouteTemplate {
  readonly text: string;
  readonly segments: readonly Segment[];
}

const PARAMETER = /^\{(\*{1,2})?([^{}:=?*/]+)(\?)?\}$/;

function parseSegment(text: string, template: string): Segment {
  if (!text.includes('{') && !text.includes('}')) {
    if (text.includes('?')) throw new RouteTemplateError(`Route template '${template}' has a '?' outside a parameter`);
    return { kind: 'literal', text };
  }
  const match = PARAMETER.exec(text);
  if (!match) {
    throw new RouteTemplateError(
      `Route template '${template}': segment '${text}' is not one this host supports ` +
        '(a literal, {name}, {name?} or {*name}; no constraints, defaults or mixed segments)',
    );
  }
  const [, star, name, question] = match;
  if (star && question) throw new RouteTemplateError(`A catch-all parameter cannot be marked optional (route '${template}')`);
  return { kind: 'parameter', name, optional: question !== undefined, catchAll: star !== undefined };
}

/** @throws RouteTemplateError for a template this host cannot serve exactly as the Functions host would. */
export function parseRouteTemplate(template: string): RouteTemplate {
  // Like ASP.NET, accept an app-relative '~/' or '/' prefix and a trailing '/'.
  let text = template.trim().replace(/^~?\//, '');
  if (text.endsWith('/')) text = text.slice(0, -1);
  const parts = text === '' ? [] : text.split('/');
  const names = new Set<string>();
  const segments = parts.map((part, index): Segment => {
    if (part === '') throw new RouteTemplateError(`Route template '${template}' has an empty segment ('//')`);
    const segment = parseSegment(part, template);
    if (segment.kind === 'literal') return segment;
    const key = segment.name.toLowerCase();
    if (names.has(key)) throw new RouteTemplateError(`Parameter '${segment.name}' appears twice in route '${template}'`);
    names.add(key);
    if ((segment.catchAll || segment.optional) && index !== parts.length - 1) {
      throw new RouteTemplateError(`Only the last segment may hold a catch-all or optional parameter (route '${template}')`);
    }
    return segment;
  });
  return { text: template, segments };
}

/** Prepends host.json's routePrefix the way the host does ('' means none). */
export function withRoutePrefix(routePrefix: string, route: string): string {
  const prefix = routePrefix.replace(/^\/+|\/+$/g, '');
  const body = route.replace(/^~?\/+/, '');
  return prefix === '' ? body : `${prefix}/${body}`;
}
