import type Joi from 'joi';

// joi and the schemas built with it cost tens of milliseconds at load (measured: the schemas alone were
// ~40 ms of a cold start), paid by every instance before its first request, whatever routes it serves.
// Here joi is required on first use and each schema set is built once, on the first validation that
// needs it. A synchronous require, not import(): validation is synchronous and must stay so.

let joi: Joi.Root | undefined;

/** The joi module, required on the first call. */
export function loadJoi(): Joi.Root {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load, and a synchronous one: see above
  joi ??= require('joi') as Joi.Root;
  return joi;
}

/**
 * A getter for what `build` makes with joi: built on the getter's first call, then the same value for
 * the life of the process. `build` must be pure (schemas, messages): it runs once, at an unknown time.
 */
export function builtOnFirstUse<T>(build: (joi: Joi.Root) => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build(loadJoi()) }).value;
}
