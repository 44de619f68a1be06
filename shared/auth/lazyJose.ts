import type * as Jose from 'jose';

// jose is loaded on the first token, not at module load: it cost a cold start ~23 ms, and an
// instance that never sees a bearer token (a health probe, the timer function) never needs it.
// Every function of jose that this service calls is asynchronous or runs inside an asynchronous one.

/** The jose module. */
export type JoseModule = typeof Jose;

let jose: Promise<JoseModule> | undefined;

/** jose, imported on the first call; the same module for every later one. */
export function loadJose(): Promise<JoseModule> {
  jose ??= import('jose');
  return jose;
}
