// An in-process stand-in for `@azure/functions-core`, the module the Azure Functions Node worker
// injects into the app. `@azure/functions` requires it lazily the first time the app calls
// `app.http(...)` (or a hook); whatever is registered here is the single source of routes for the
// local host, exactly as with the real worker.
//
// Of the worker's hooks only 'log' is kept (the benchmark silences the per-request line with it); the
// app registers no invocation or app-lifetime hooks, and registering one here fails loudly rather than
// being ignored.

import Module from 'node:module';
import { writeLogLine } from './hostLog';

export const FUNCTIONS_CORE_MODULE = '@azure/functions-core';

// This module's own exports are also a complete core API, so a module system that ignores the
// require hook (Jest) can map '@azure/functions-core' straight to this file.
export const version = '0.0.0-local';
export const hostVersion = '4.0.0-local';

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type LogCategory = 'user' | 'system' | 'customMetric';

/** One binding as `@azure/functions` describes it (trigger options are spread into it). */
export interface BindingInfo {
  type?: string;
  direction?: string;
  [property: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, BindingInfo>;
  retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export type HookData = Record<string, unknown>;

export interface HookContext {
  readonly hookData: HookData;
  readonly appHookData: HookData;
}

export type HookCallback = (context: HookContext) => unknown;

export interface ProgrammingModel {
  name: string;
  version: string;
}

export type HttpAuthLevel = 'anonymous' | 'function' | 'admin';

export interface HttpFunctionDescriptor {
  readonly name: string;
  /** The route as registered, without host.json's routePrefix; the function name when none was given. */
  readonly route: string;
  /** Upper-case; empty means every method (the host's behaviour for an empty list). */
  readonly methods: readonly string[];
  readonly authLevel: HttpAuthLevel;
  readonly handler: FunctionCallback;
  /** Bindings as registered, for building the InvocationContext's options. */
  readonly bindings: Readonly<Record<string, BindingInfo>>;
}

/** Same contract as the worker's Disposable: dispose() runs the callback at most once. */
export class Disposable {
  #callOnDispose: (() => unknown) | undefined;

  static from(...disposables: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const disposable of disposables) disposable.dispose();
    });
  }

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  dispose(): void {
    const callback = this.#callOnDispose;
    this.#callOnDispose = undefined;
    callback?.();
  }
}

interface RegisteredFunction {
  readonly metadata: FunctionMetadata;
  readonly callback: FunctionCallback;
}

const functions = new Map<string, RegisteredFunction>();
const logHooks: HookCallback[] = [];
let programmingModel: ProgrammingModel | undefined;
// Shared by every hook, as the worker's appHookData is.
const appHookData: HookData = {};

export function registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
  const key = metadata.name.toLowerCase();
  // The worker refuses duplicates too; silently replacing one would hide a route.
  if (functions.has(key)) {
    throw new Error(`A function with name "${metadata.name}" has already been registered.`);
  }
  functions.set(key, { metadata, callback });
  return new Disposable(() => functions.delete(key));
}

/** A 'log' hook (it may change a line's level or message, or drop it with level 'none'); other hooks throw. */
export function registerHook(hookName: string, callback: HookCallback): Disposable {
  if (hookName !== 'log') throw new Error(`This local host runs no '${hookName}' hooks (only 'log')`);
  logHooks.push(callback);
  return new Disposable(() => {
    const index = logHooks.indexOf(callback);
    if (index >= 0) logHooks.splice(index, 1);
  });
}

export function setProgrammingModel(model: ProgrammingModel): void {
  programmingModel = model;
}

export function getProgrammingModel(): ProgrammingModel | undefined {
  return programmingModel;
}

const quietLevels: ReadonlySet<LogLevel> = new Set<LogLevel>(['trace', 'debug', 'information', 'none']);

/**
 * Runs log hooks, then writes to the host's log on stderr (hostLog.ts: asynchronous, nothing lost at exit). System messages below warning are dropped: the library
 * emits chatty diagnostics that the real host also hides by default.
 */
export function emitLog(level: LogLevel, category: LogCategory, message: string, prefix: string, invocationContext?: unknown): void {
  const context = { hookData: {}, appHookData, level, category, message, invocationContext };
  for (const hook of logHooks) {
    try {
      void hook(context);
    } catch {
      // A failing log hook must not take the invocation down with it.
    }
  }
  if (context.level === 'none') return;
  if (category === 'system' && quietLevels.has(context.level)) return;
  writeLogLine(`[${prefix}] ${context.level}: ${context.message}`);
}

export function log(level: LogLevel, category: LogCategory, message: string): void {
  emitLog(level, category, message, 'host');
}

export interface FunctionsCoreApi {
  readonly version: string;
  readonly hostVersion: string;
  readonly Disposable: typeof Disposable;
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable;
  registerHook(hookName: string, callback: HookCallback): Disposable;
  setProgrammingModel(model: ProgrammingModel): void;
  getProgrammingModel(): ProgrammingModel | undefined;
  log(level: LogLevel, category: LogCategory, message: string): void;
}

export const functionsCore: FunctionsCoreApi = Object.freeze({
  version,
  hostVersion,
  Disposable,
  registerFunction,
  registerHook,
  setProgrammingModel,
  getProgrammingModel,
  log,
});

type RequireMethod = (this: Module, id: string) => unknown;

let installed = false;

/**
 * Makes `require('@azure/functions-core')` return `functionsCore`, the way the worker does (it wraps
 * Module.prototype.require). Must run before the app's first `app.http(...)`: `@azure/functions`
 * caches a failed lookup and then stays in "test mode" for good.
 */
export function installFunctionsCore(): void {
  if (installed) return;
  const prototype = Module.prototype as unknown as { require: RequireMethod };
  const originalRequire = prototype.require;
  const patchedRequire: RequireMethod = function (this: Module, id: string): unknown {
    return id === FUNCTIONS_CORE_MODULE ? functionsCore : originalRequire.call(this, id);
  };
  prototype.require = patchedRequire;
  installed = true;
}

function isHttpTrigger(binding: BindingInfo): boolean {
  return typeof binding.type === 'string' && binding.type.toLowerCase() === 'httptrigger';
}

function asAuthLevel(value: unknown): HttpAuthLevel {
  return value === 'function' || value === 'admin' ? value : 'anonymous';
}

function asMethods(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter((m): m is string => typeof m === 'string').map((m) => m.toUpperCase());
}

export function registeredHttpFunctions(): HttpFunctionDescriptor[] {
  const result: HttpFunctionDescriptor[] = [];
  for (const { metadata, callback } of functions.values()) {
    const trigger = Object.values(metadata.bindings).find(isHttpTrigger);
    if (!trigger) continue;
    const route = typeof trigger.route === 'string' && trigger.route.trim() !== '' ? trigger.route : metadata.name;
    result.push({
      name: metadata.name,
      route,
      methods: asMethods(trigger.methods),
      authLevel: asAuthLevel(trigger.authLevel),
      handler: callback,
      bindings: metadata.bindings,
    });
  }
  return result;
}

/** Names of registered functions that this host cannot trigger (timers, queues, ...). */
export function registeredNonHttpFunctionNames(): string[] {
  return [...functions.values()]
    .filter(({ metadata }) => !Object.values(metadata.bindings).some(isHttpTrigger))
    .map(({ metadata }) => metadata.name);
}
