import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { app, type HttpHandler, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { isLoopbackHostname, settings } from '../shared/config';
import { developmentSignIn } from '../shared/helpdesk/developmentSignIn';
import { ENTRA_LOGIN_ORIGIN, helpdeskPageConfig } from '../shared/helpdesk/pageConfig';
import { readJsonObject } from '../shared/http/body';
import { forbidden, methodNotAllowed, notFound } from '../shared/errors/graphError';
import { type GraphOperation, graphHandler } from '../shared/http/handler';
import { ALL_METHODS } from '../shared/http/methods';
import type { RequestContext } from '../shared/http/requestContext';
import { jsonResponse } from '../shared/http/responses';

// The helpdesk console: a static page bundled by `npm run build` (scripts/build/buildWeb.ts) into
// dist/web/helpdesk, which the deployment package carries beside dist/app. No second web server.

/** dist/app/main.js (the bundle) or dist/functions/helpdesk.js -> dist/web/helpdesk: both one level below dist/. */
const WEB_ROOT = path.join(__dirname, '..', 'web', 'helpdesk');

export const HELPDESK_ROUTE = 'helpdesk';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// A bundle's own names (app.js, chunk-ABCD1234.js, styles.css): never a path, never a dotfile.
const ASSET_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(?:html|js|css|png|svg)$/;

/**
 * Every answer of the console, errors included. No inline script or style anywhere (the page's
 * configuration comes from config.json), no framing, no referrer, nothing cached: the page can show a
 * key. In entra mode MSAL also talks to the tenant's login endpoint.
 */
export function helpdeskSecurityHeaders(mode: 'local' | 'entra'): Record<string, string> {
  const connect = mode === 'entra' ? `'self' ${ENTRA_LOGIN_ORIGIN}` : "'self'";
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src ${connect}`,
      "form-action 'self'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

const files = new Map<string, Buffer>();

/** A file of the bundle, read once per instance; 404 when the name is not one. */
async function asset(name: string): Promise<{ body: Buffer; contentType: string }> {
  const extension = path.extname(name);
  const contentType = CONTENT_TYPES[extension];
  if (!ASSET_NAME.test(name) || !contentType) throw notFound('No such file of the helpdesk console.');
  let body = files.get(name);
  if (!body) {
    try {
      body = await readFile(path.join(WEB_ROOT, name));
    } catch {
      throw notFound(`No such file of the helpdesk console${name === 'index.html' ? ' (was `npm run build` run?)' : ''}.`);
    }
    files.set(name, body);
  }
  return { body, contentType };
}

async function fileResponse(requestContext: RequestContext, name: string): Promise<HttpResponseInit> {
  const { body, contentType } = await asset(name);
  return { status: 200, headers: { 'Content-Type': contentType, 'request-id': requestContext.requestId }, body };
}

/** Refuses every method but `allowed` with Graph's 405 and Allow. */
function allowOnly(request: HttpRequest, allowed: string): void {
  if (request.method.toUpperCase() !== allowed) throw methodNotAllowed(request.method, [allowed]);
}

/** graphHandler, with the console's security headers on every answer, errors included. */
function consoleHandler(operation: GraphOperation): HttpHandler {
  const handler = graphHandler(operation);
  return async (request, context) => {
    const response = await handler(request, context);
    const headers = { ...(response.headers as Record<string, string>), ...helpdeskSecurityHeaders(settings().auth.mode) };
    return { ...response, headers };
  };
}

/** GET /helpdesk: the console's page. */
export async function consolePage(request: HttpRequest, requestContext: RequestContext): Promise<HttpResponseInit> {
  allowOnly(request, 'GET');
  return fileResponse(requestContext, 'index.html');
}

/** GET /helpdesk/assets/{file}: a file of the console's bundle; 404 for any other name. */
export async function consoleAsset(request: HttpRequest, requestContext: RequestContext): Promise<HttpResponseInit> {
  allowOnly(request, 'GET');
  return fileResponse(requestContext, request.params.file ?? '');
}

/** GET /helpdesk/config.json: what the page needs to sign in and call the API (shared/helpdesk/pageConfig.ts). */
export function consoleConfig(request: HttpRequest, requestContext: RequestContext): Promise<HttpResponseInit> {
  allowOnly(request, 'GET');
  return Promise.resolve(
    jsonResponse(requestContext, 200, helpdeskPageConfig(settings()), { 'Content-Type': 'application/json; charset=utf-8' }),
  );
}

/**
 * The development sign-in mints Read.All tokens without authentication, so it answers only a caller on
 * this machine: a loopback Host, and no proxy's forwarding headers (a proxy on the machine would make
 * a remote caller look local). Checked here, not only by the local host, so that `func start` or a
 * container serving AUTH_MODE=local on another interface still refuses the world.
 */
function requireLoopbackCaller(request: HttpRequest): void {
  const forwarded = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-original-host'].some((name) => request.headers.has(name));
  if (!isLoopbackHostname(new URL(request.url).hostname) || forwarded) {
    throw forbidden('The development sign-in answers only on this machine: call it at a loopback address, not through a proxy.');
  }
}

/** POST /helpdesk/dev-token `{"roles": [...]}` -> `{accessToken, expiresIn, roles}`; AUTH_MODE=local, loopback callers only. */
export async function developmentToken(request: HttpRequest, requestContext: RequestContext): Promise<HttpResponseInit> {
  allowOnly(request, 'POST');
  requireLoopbackCaller(request);
  const signIn = await developmentSignIn(settings().localStateDir, await readJsonObject(request));
  return jsonResponse(requestContext, 200, { ...signIn }, { 'Content-Type': 'application/json; charset=utf-8' });
}

/** GET /: `/` is the console's, so a person who opens the Function App's address lands on it. */
export function rootRedirect(request: HttpRequest, requestContext: RequestContext): Promise<HttpResponseInit> {
  allowOnly(request, 'GET');
  return Promise.resolve({ status: 302, headers: { Location: `/${HELPDESK_ROUTE}`, 'request-id': requestContext.requestId } });
}

export const pageHandler = consoleHandler(consolePage);
export const assetHandler = consoleHandler(consoleAsset);
export const configHandler = consoleHandler(consoleConfig);
export const developmentTokenHandler = consoleHandler(developmentToken);
export const rootHandler = consoleHandler(rootRedirect);

// Never both: with Entra sign-in there is no way to mint a token, so that route does not exist at all.
const developmentRoutes: [string, string, HttpHandler][] =
  settings().auth.mode === 'local' ? [['helpdesk-devToken', `${HELPDESK_ROUTE}/dev-token`, developmentTokenHandler]] : [];

const consoleRoutes: [string, string, HttpHandler][] = [
  ['helpdesk', HELPDESK_ROUTE, pageHandler],
  ['helpdesk-config', `${HELPDESK_ROUTE}/config.json`, configHandler],
  ['helpdesk-assets', `${HELPDESK_ROUTE}/assets/{file}`, assetHandler],
  // '' would mean "the function's name" to the host; '/' is the root itself.
  ['root', '/', rootHandler],
  ...developmentRoutes,
];

/** The console's routes: a page and its files, not part of the Graph API, so not in the OpenAPI document. */
export const CONSOLE_ROUTES: readonly string[] = consoleRoutes.map(([, route]) => route);

for (const [name, route, handler] of consoleRoutes) app.http(name, { methods: ALL_METHODS, authLevel: 'anonymous', route, handler });
