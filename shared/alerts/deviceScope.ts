import type { RevealAttempt } from '../reveal/permit';

// "A device outside the user's usual scope" needs a scope for a device: which administrative unit,
// site or REVEAL_SCOPES rule it falls under. This module does not decide it: whoever knows (the
// reveal-scope rules) registers a resolver; without one no device has a label and the signal is off.

/** The scope label of the attempt's device (any stable text: a group id, a rule's name), or undefined when unknown. */
export type DeviceScopeOf = (attempt: RevealAttempt) => Promise<string | undefined>;

let resolver: DeviceScopeOf = () => Promise.resolve(undefined);

/** Makes `next` the resolver of device scope labels for the unusual-reveal alert. */
export function useDeviceScopeResolver(next: DeviceScopeOf): void {
  resolver = next;
}

/** The attempt's device's scope label, or undefined; a resolver's failure is no label (an alert signal never refuses a reveal). */
export async function deviceScopeOf(attempt: RevealAttempt): Promise<string | undefined> {
  try {
    return await resolver(attempt);
  } catch {
    return undefined;
  }
}
