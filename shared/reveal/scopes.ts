import type { Caller } from '../auth/caller';
import { settings } from '../config';
import { asIfAbsent, forbidden, type GraphError } from '../errors/graphError';
import { revealDirectory } from './directory';
import { callerGroups } from './membership';
import type { RevealScopeRule } from './scopeRules';

// REVEAL_SCOPES applied: a user (a delegated token) sees and reveals only the keys of devices in the
// device groups of the rules their own groups are in. Apps acting as themselves stay tenant-wide. The
// caller's groups come from the token's `groups` claim, or from Graph when the token has none or says
// they did not fit; the device's from Graph (shared/reveal/directory.ts, cached).

/** Which rule let a caller at a device, and whether it asks for approval. */
export interface ScopeDecision {
  /** 1-based, as the rules are numbered in REVEAL_SCOPES's errors and the docs. */
  rule: number;
  approval: boolean;
}

/** Rule numbers by caller group, built once per rule list: a caller's 10,000 groups cost one Set lookup per distinct rule group. */
const indexes = new WeakMap<readonly RevealScopeRule[], Map<string, number[]>>();

function ruleIndex(rules: readonly RevealScopeRule[]): Map<string, number[]> {
  let index = indexes.get(rules);
  if (!index) {
    index = new Map();
    rules.forEach((rule, i) => {
      for (const group of rule.callerGroups) index!.set(group, [...(index!.get(group) ?? []), i]);
    });
    indexes.set(rules, index);
  }
  return index;
}

/** Whether REVEAL_SCOPES limits this caller: set, and the caller a user (not an app, not a device). */
export const isScoped = (caller: Caller): boolean => settings().revealScopes !== undefined && caller.delegated && !caller.device;

/** The rules (0-based) whose caller groups hold one of the caller's groups. */
async function callerRules(caller: Caller, rules: readonly RevealScopeRule[]): Promise<number[]> {
  const groups = await callerGroups(caller);
  const matched = new Set<number>();
  for (const [group, ruleNumbers] of ruleIndex(rules)) if (groups.has(group)) for (const n of ruleNumbers) matched.add(n);
  return [...matched].sort((a, b) => a - b);
}

/**
 * The rule that lets a scoped caller at `deviceId`'s keys, preferring one without approval; undefined
 * when none does. 503 when Graph cannot say.
 */
async function decide(caller: Caller, deviceId: string, candidates: number[]): Promise<ScopeDecision | undefined> {
  const rules = settings().revealScopes!;
  if (candidates.length === 0) return undefined;
  const deviceGroups = await revealDirectory().deviceGroups(deviceId);
  if (!deviceGroups) return undefined;
  const fitting = candidates.filter((i) => rules[i].deviceGroups.some((group) => deviceGroups.has(group)));
  const chosen = fitting.find((i) => !rules[i].approval) ?? fitting[0];
  return chosen === undefined ? undefined : { rule: chosen + 1, approval: rules[chosen].approval };
}

const noRule = (): GraphError =>
  forbidden('Reveal scope: none of your groups is in a REVEAL_SCOPES rule, so you may not read recovery keys.');

/**
 * Before a scoped caller's key is read or named (isScoped): 403 when none of their groups is in a rule.
 * Such a caller may read no key at all, whichever id they name, so the 403 says nothing of the key.
 */
export async function requireScopeRule(caller: Caller): Promise<void> {
  if ((await callerRules(caller, settings().revealScopes!)).length === 0) throw noRule();
}

/**
 * For a key read or a reveal request: the rule that allows it. A key of a device outside the caller's
 * scope is answered as `absent` (asIfAbsent), the answer to the same request for a key that does not
 * exist, with the refusal naming why kept for the audit trail. Only for scoped callers (isScoped).
 */
export async function authorizeScope(caller: Caller, deviceId: string | undefined, absent: () => GraphError): Promise<ScopeDecision> {
  const candidates = await callerRules(caller, settings().revealScopes!);
  if (candidates.length === 0) throw noRule();
  const decision = deviceId === undefined ? undefined : await decide(caller, deviceId, candidates);
  if (!decision) {
    const rules = candidates.map((i) => i + 1).join(', ');
    throw asIfAbsent(
      absent(),
      forbidden(`Reveal scope: this key's device is in none of the device groups of your REVEAL_SCOPES rules (${rules}).`),
    );
  }
  return decision;
}

/**
 * For metadata reads and lists: a test of whether a device is visible to the caller, or undefined when
 * every device is (the caller is not scoped). Throws only the directory's 503.
 */
export async function visibleDevices(caller: Caller): Promise<((deviceId: string | undefined) => Promise<boolean>) | undefined> {
  if (!isScoped(caller)) return undefined;
  const candidates = await callerRules(caller, settings().revealScopes!);
  return async (deviceId) => deviceId !== undefined && candidates.length > 0 && (await decide(caller, deviceId, candidates)) !== undefined;
}

/** The items whose device a scoped caller may see (all of them for anyone else); Graph's 503 if it cannot say. */
export async function onlyVisible<T extends { deviceId?: string }>(caller: Caller, items: readonly T[]): Promise<T[]> {
  const visible = await visibleDevices(caller);
  if (!visible) return [...items];
  const shown = await Promise.all(items.map((item) => visible(item.deviceId)));
  return items.filter((_, i) => shown[i]);
}

/** A key's metadata for a scoped caller: a device outside their scope is answered as `absent`, as a key that does not exist. */
export async function ensureVisible<T extends { id: string; deviceId?: string }>(
  caller: Caller,
  key: T,
  absent: () => GraphError,
): Promise<T> {
  if ((await onlyVisible(caller, [key])).length === 0) throw absent();
  return key;
}
