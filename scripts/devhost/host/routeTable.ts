// Request paths matched against the registered route templates, in the order the Functions host tries
// them.

import { parseRouteTemplate, type RouteTemplate } from './routeTemplate';

export type RouteParams = Record<string, string>;

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

const sameLiteral = (a: string, b: string): boolean => a.length === b.length && a.toUpperCase() === b.toUpperCase();

/** Route values for a path (already split by splitPath), or undefined if the template does not match. */
export function matchSegments(route: RouteTemplate, pathSegments: readonly string[]): RouteParams | undefined {
  const params: RouteParams = {};
  for (let i = 0; i < route.segments.length; i++) {
    const segment = route.segments[i];
    if (segment.kind === 'parameter' && segment.catchAll) {
      const rest = pathSegments.slice(i).join('/');
      if (rest !== '') params[segment.name] = rest;
      return params;
    }
    if (i >= pathSegments.length) return segment.kind === 'parameter' && segment.optional ? params : undefined;
    const value = pathSegments[i];
    if (segment.kind === 'literal') {
      if (!sameLiteral(segment.text, value)) return undefined;
    } else {
      if (value === '') return undefined;
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
 * segment by segment a literal beats a parameter; a longer template beats its own prefix, unless it goes
 * on with a catch-all. Where the host would call it a tie, a plain parameter beats a catch-all, so a
 * `{*path}` fallback never shadows a real route.
 */
export function compareRoutePrecedence(x: RouteTemplate, y: RouteTemplate): number {
  for (let i = 0; i < x.segments.length; i++) {
    const a = x.segments[i];
    if (i >= y.segments.length) return a.kind === 'parameter' && a.catchAll ? 1 : -1;
    const b = y.segments[i];
    if (a.kind === 'literal' && b.kind === 'parameter') return -1;
    if (a.kind === 'parameter' && b.kind === 'literal') return 1;
    if (a.kind === 'parameter' && b.kind === 'parameter') {
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
