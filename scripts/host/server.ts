// A small local stand-in for the Azure Functions host: loads the app the way the Node worker does
// (every file matching package.json `main`, with `@azure/functions-core` provided in-process),
// then serves the HTTP functions the app registered. There is no route list of its own.

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { format } from 'node:util';
import {
  HttpRequest,
  HttpResponse,
  InvocationContext,
  type Cookie,
  type EffectiveFunctionOptions,
  type FunctionInput,
  type FunctionOutput,
  type FunctionTrigger,
  type LogLevel,
} from '@azure/functions';
import {
  emitLog,
  installFunctionsCore,
  invokeWithHooks,
  registeredHttpFunctions,
  registeredNonHttpFunctionNames,
  runAppStartHooks,
  runAppTerminateHooks,
  type BindingInfo,
  type HttpFunctionDescriptor,
} from './functionsCore';
import { RouteTable, withRoutePrefix } from './routes';

/** Azure's front end refuses request bodies over 100 MiB; so do we, so nothing works only locally. */
export const MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;

// How long close() lets in-flight requests finish before cutting their connections.
const CLOSE_GRACE_MS = 10_000;

export interface HostOptions {
  port: number;
  hostname?: string;
  /** Files or `dir/*.js` patterns to load instead of package.json `main`; relative to the project root. */
  appMain?: string | readonly string[];
  /** Where package.json and host.json live; found by walking up from this file when omitted. */
  projectRoot?: string;
}

export interface HostedFunction {
  readonly name: string;
  readonly methods: readonly string[];
  /** With host.json's routePrefix applied. */
  readonly route: string;
}

export interface RunningHost {
  readonly url: string;
  readonly functions: readonly HostedFunction[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Loading the app

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No package.json above ${start}`);
  }
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
}

function property(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function packageMain(root: string): string {
  const main = property(readJson(path.join(root, 'package.json')), 'main');
  if (typeof main !== 'string' || main.trim() === '') throw new Error('package.json has no "main" naming the app files');
  return main;
}

/** The host's default is 'api'; this project sets '' in host.json. */
function routePrefix(root: string): string {
  const file = path.join(root, 'host.json');
  if (!fs.existsSync(file)) return 'api';
  const prefix = property(property(property(readJson(file), 'extensions'), 'http'), 'routePrefix');
  return typeof prefix === 'string' ? prefix : 'api';
}

const GLOB_CHARS = /[*?[\]{}]/;

/** Expands a file path or a pattern with wildcards in its last component only (`dist/functions/*.js`). */
export function expandMainPattern(root: string, pattern: string): string[] {
  const absolute = path.resolve(root, pattern);
  const dir = path.dirname(absolute);
  const base = path.basename(absolute);
  if (GLOB_CHARS.test(dir)) throw new Error(`Unsupported "main" pattern '${pattern}': wildcards only in the file name`);
  if (!GLOB_CHARS.test(base)) {
    if (!fs.existsSync(absolute)) throw new Error(`App file '${pattern}' does not exist (did you build?)`);
    return [absolute];
  }
  if (/[[\]{}]/.test(base)) throw new Error(`Unsupported "main" pattern '${pattern}': only * and ? wildcards`);
  const matcher = new RegExp(
    `^${base
      .replace(/[.+^$()|\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  );
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isFile() && matcher.test(entry.name))
        .map((entry) => path.join(dir, entry.name))
        .sort()
    : [];
  // The worker fails the same way when `main` matches nothing.
  if (files.length === 0) throw new Error(`Found zero files matching '${pattern}' (did you build?)`);
  return files;
}

function loadApp(root: string, appMain: HostOptions['appMain']): void {
  const patterns = appMain === undefined ? [packageMain(root)] : typeof appMain === 'string' ? [appMain] : appMain;
  for (const file of patterns.flatMap((pattern) => expandMainPattern(root, pattern))) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the app is the point
    require(file);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-request conversion

interface Route {
  readonly fn: HttpFunctionDescriptor;
  readonly options: EffectiveFunctionOptions;
}

/** What the worker derives from the bindings for `context.options`. */
function effectiveOptions(bindings: Readonly<Record<string, BindingInfo>>): EffectiveFunctionOptions {
  let trigger: FunctionTrigger = { type: 'httpTrigger', name: 'httpTrigger' };
  let returnBinding: FunctionOutput | undefined;
  const extraInputs: FunctionInput[] = [];
  const extraOutputs: FunctionOutput[] = [];
  for (const [name, binding] of Object.entries(bindings)) {
    const info = { ...binding, type: binding.type ?? 'unknown', name };
    if (info.type.toLowerCase().endsWith('trigger')) trigger = info;
    else if (name === '$return') returnBinding = info;
    else if (binding.direction === 'in') extraInputs.push(info);
    else if (binding.direction === 'out') extraOutputs.push(info);
  }
  return { trigger, return: returnBinding, extraInputs, extraOutputs };
}

/**
 * The Host values this host answers: a loopback name and a port, nothing else. It serves development
 * tokens and real keys on a developer's machine, so a web page whose own name was re-pointed at
 * 127.0.0.1 (DNS rebinding: same origin to the browser) must get nothing; and a Host that carries a
 * path, a query, a fragment or user info would otherwise rewrite the URL the function sees. Refused
 * with an empty 400, as Kestrel refuses a malformed Host under the Functions host.
 */
const LOOPBACK_AUTHORITY = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * The request URL as the function sees it; undefined when the Host header is not a loopback authority or the
 * request target is not origin-form (RFC 9112 3.2.1). The target is appended to the origin, not resolved
 * against it: resolving `//other.example/v1.0/...` would make `other.example` the URL's host, and every
 * link the function writes would point there. Appended, the path keeps its `//`, which names no resource.
 */
function requestUrl(req: IncomingMessage, fallbackHost: string): URL | undefined {
  const target = req.url ?? '/';
  const authority = req.headers.host ?? fallbackHost;
  if (!target.startsWith('/') || !LOOPBACK_AUTHORITY.test(authority)) return undefined;
  try {
    return new URL(`http://${authority}${target}`);
  } catch {
    return undefined;
  }
}

function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values) headers[name] = values.join(name === 'cookie' ? '; ' : ', ');
  }
  return headers;
}

/** The host hands the worker one string per query key, repeated keys joined with ','. */
function requestQuery(url: URL): Record<string, string> {
  // No prototype: `?__proto__=1` must arrive as an option (and be refused as unknown), not vanish.
  const query = Object.create(null) as Record<string, string>;
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
  return query;
}

class BodyTooLargeError extends Error {}
class ClientGoneError extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the 413 goes out with Connection: close and the rest is never read.
        req.off('data', onData);
        req.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    // A request stream only fails or closes early when the client went away (e.g. "aborted").
    req.once('error', () => reject(new ClientGoneError()));
    req.once('close', () => reject(new ClientGoneError()));
  });
}

function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}

const NO_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/** A whole request (headers and body) must arrive within this; a request body is at most 16 KiB. */
const REQUEST_TIMEOUT_MS = 30_000;

function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  if (!NO_BODY_STATUSES.has(status)) res.setHeader('content-length', '0');
  res.end();
}

async function sendResult(res: ServerResponse, method: string, result: unknown): Promise<void> {
  // The worker hands the host no response for undefined/null, and the host answers an empty 200.
  if (result === undefined || result === null) {
    sendEmpty(res, 200);
    return;
  }
  if (typeof result !== 'object') {
    throw new TypeError('The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".');
  }
  const response = result instanceof HttpResponse ? result : new HttpResponse(result);
  // The worker also buffers the whole body before handing it to the host (no HTTP streaming).
  const body = Buffer.from(await response.arrayBuffer());

  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = [...response.headers.getSetCookie(), ...response.cookies.map(serializeCookie)];
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.removeHeader('transfer-encoding');

  if (NO_BODY_STATUSES.has(response.status)) {
    res.removeHeader('content-length');
    res.end();
    return;
  }
  res.setHeader('content-length', String(body.length));
  res.end(method === 'HEAD' ? undefined : body);
}

/** Stack frames without the message: messages can quote request data, and this service handles secrets. */
function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [`${err.name} (message withheld)`, ...frames.slice(0, 8)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const hostname = options.hostname ?? '127.0.0.1';
  installFunctionsCore();
  const root = options.projectRoot ?? findProjectRoot(__dirname);
  loadApp(root, options.appMain);

  const functions = registeredHttpFunctions();
  if (functions.length === 0) {
    throw new Error(
      'The app registered no HTTP functions. Was @azure/functions used before installFunctionsCore()? ' +
        "Under Jest, map '@azure/functions-core' to scripts/host/functionsCore with moduleNameMapper.",
    );
  }
  for (const name of registeredNonHttpFunctionNames()) {
    emitLog('warning', 'system', `Function '${name}' has no HTTP trigger; this local host never runs it.`, 'host');
  }

  const prefix = routePrefix(root);
  const table = new RouteTable<Route>();
  const hosted: HostedFunction[] = [];
  for (const fn of functions) {
    const route = withRoutePrefix(prefix, fn.route);
    try {
      table.add(route, fn.methods, { fn, options: effectiveOptions(fn.bindings) });
    } catch (err) {
      throw new Error(`Function '${fn.name}': ${(err as Error).message}`, { cause: err });
    }
    if (fn.authLevel !== 'anonymous') {
      emitLog(
        'warning',
        'system',
        `Function '${fn.name}' has authLevel '${fn.authLevel}'; like Core Tools, this host does not check keys.`,
        'host',
      );
    }
    hosted.push({ name: fn.name, methods: fn.methods, route });
  }

  await runAppStartHooks(root);

  let closing = false;
  let fallbackHost = hostname;

  async function invoke(route: Route, req: IncomingMessage, res: ServerResponse, url: URL, params: Record<string, string>): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_REQUEST_BODY_BYTES) throw new BodyTooLargeError();
    const body = await readBody(req, MAX_REQUEST_BODY_BYTES);

    const request = new HttpRequest({
      method,
      url: url.href,
      headers: requestHeaders(req),
      query: requestQuery(url),
      params,
      body: { bytes: body },
    });
    const functionName = route.fn.name;
    const context: InvocationContext = new InvocationContext({
      invocationId: randomUUID(),
      functionName,
      logHandler: (level: LogLevel, ...args: unknown[]) => emitLog(level, 'user', format(...args), functionName, context),
      options: route.options,
    });

    try {
      await sendResult(res, method, await invokeWithHooks(route.fn.handler, context, [request]));
    } catch (err) {
      emitLog('error', 'system', `Executed '${functionName}' (Failed, Id=${context.invocationId}): ${describeFailure(err)}`, 'host');
      if (!res.headersSent) sendEmpty(res, 500);
      else res.destroy();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req, fallbackHost);
    if (!url) {
      sendEmpty(res, 400);
      return;
    }
    const match = table.match(req.method ?? 'GET', url.pathname);
    if (!match) {
      sendEmpty(res, 404);
      return;
    }
    try {
      await invoke(match.target, req, res, url, match.params);
    } catch (err) {
      if (res.headersSent || err instanceof ClientGoneError) {
        // Nobody is left to answer; nothing worth logging either.
        res.destroy();
      } else if (err instanceof BodyTooLargeError) {
        res.setHeader('connection', 'close');
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.statusCode = 413;
        res.end('Request body too large (limit 100 MiB)\n');
      } else {
        emitLog('error', 'system', `Request failed before reaching the function: ${describeFailure(err)}`, 'host');
        sendEmpty(res, 500);
      }
    }
  }

  // Responses not yet started; on close they are told to end their connection, not keep it alive.
  const pending = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (closing) res.setHeader('connection', 'close');
    else pending.add(res);
    res.once('close', () => {
      pending.delete(res);
      if (closing) server.closeIdleConnections();
    });
    void handle(req, res);
  });
  // A body shorter than its Content-Length must not hold a connection for Node's default five minutes.
  server.requestTimeout = REQUEST_TIMEOUT_MS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  const authority = `${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
  fallbackHost = authority;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      for (const res of pending) if (!res.headersSent) res.setHeader('connection', 'close');
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      force.unref();
      await stopped;
      clearTimeout(force);
      await runAppTerminateHooks();
    })();
    return closed;
  };

  return { url: `http://${authority}`, functions: hosted, close };
}
