// A small local stand-in for the Azure Functions host: loads the app the way the Node worker does
// (appLoader.ts: the files package.json `main` names, with `@azure/functions-core` provided in-process
// by functionsCore.ts), then serves the HTTP functions the app registered (routeTable.ts). There is no
// route list of its own.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { format } from 'node:util';
import {
  HttpRequest,
  InvocationContext,
  type EffectiveFunctionOptions,
  type FunctionInput,
  type FunctionOutput,
  type FunctionTrigger,
  type LogLevel,
} from '@azure/functions';
import { findProjectRoot, loadApp, routePrefix } from './appLoader';
import {
  emitLog,
  installFunctionsCore,
  registeredHttpFunctions,
  registeredNonHttpFunctionNames,
  type BindingInfo,
  type HttpFunctionDescriptor,
} from './functionsCore';
import {
  BodyTooLargeError,
  ClientGoneError,
  MAX_REQUEST_BODY_BYTES,
  readBody,
  requestHeaders,
  requestQuery,
  requestUrl,
} from './incomingRequest';
import { flushLog } from './hostLog';
import { sendEmpty, sendResult } from './outgoingResponse';
import { RouteTable } from './routeTable';
import { withRoutePrefix } from './routeTemplate';

export { MAX_REQUEST_BODY_BYTES } from './incomingRequest';

// How long close() lets in-flight requests finish before cutting their connections.
const CLOSE_GRACE_MS = 10_000;

/** A whole request (headers and body) must arrive within this; a request body is at most 16 KiB. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long an idle connection is kept for the client's next request (Node's default is 5 s). */
const KEEP_ALIVE_MS = 65_000;

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
 * A failure as the host's log shows it: the error's name and stack frames, its message withheld (a
 * message can quote request data, and this service handles secrets).
 */
function stackWithMessageWithheld(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [`${err.name} (message withheld)`, ...frames.slice(0, 8)].join('\n');
}

/** The routes of every registered HTTP function, with host.json's routePrefix. @throws for a route this host cannot serve. */
function routeTable(root: string): { table: RouteTable<Route>; hosted: HostedFunction[] } {
  const functions = registeredHttpFunctions();
  if (functions.length === 0) {
    throw new Error(
      'The app registered no HTTP functions. Was @azure/functions used before installFunctionsCore()? ' +
        "Under Jest, map '@azure/functions-core' to scripts/devhost/host/functionsCore with moduleNameMapper.",
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
  return { table, hosted };
}

/** Calls the function of `route` with the request, and writes its result (or an empty 500) to `res`. */
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
    const result = await route.fn.handler(request, context);
    // What the invocation logged is on stderr before its response leaves, as with a synchronous log.
    await flushLog();
    await sendResult(res, method, result);
  } catch (err) {
    emitLog('error', 'system', `Executed '${functionName}' (Failed, Id=${context.invocationId}): ${stackWithMessageWithheld(err)}`, 'host');
    await flushLog();
    if (!res.headersSent) sendEmpty(res, 500);
    else res.destroy();
  }
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const hostname = options.hostname ?? '127.0.0.1';
  installFunctionsCore();
  const root = options.projectRoot ?? findProjectRoot(__dirname);
  loadApp(root, options.appMain);
  const { table, hosted } = routeTable(root);

  let closing = false;
  let fallbackHost = hostname;

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
        emitLog('error', 'system', `Request failed before reaching the function: ${stackWithMessageWithheld(err)}`, 'host');
        await flushLog();
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
  // Node closes an idle kept-alive connection after 5 s, and a client that is itself slow to run its timers
  // (a loaded machine) can send its next request on a connection being closed: "other side closed". Held a
  // minute, an idle connection is the client's to close, as behind Azure's front ends (minutes).
  server.keepAliveTimeout = KEEP_ALIVE_MS;

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
    })();
    return closed;
  };

  return { url: `http://${authority}`, functions: hosted, close };
}
