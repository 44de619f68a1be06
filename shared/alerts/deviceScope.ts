import type { RevealAttempt } from '../reveal/permit';

// "A device outside the user's usual scope": the scope of a device is the REVEAL_SCOPES rule that let
// the read through, which the reveal policy (run before the alert checks) names on the read's audit
// source. Without REVEAL_SCOPES no read has a rule, no device has a label, and the signal is off.

/** The attempt's device's scope label (the rule that allowed the read), or undefined when unscoped. */
export function deviceScopeOf(attempt: RevealAttempt): Promise<string | undefined> {
  const rule = attempt.source.reveal?.scopeRule;
  return Promise.resolve(rule === undefined ? undefined : `rule ${rule}`);
}
