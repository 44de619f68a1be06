import { isGuid } from '../text/normalizeGuid';

// REVEAL_SCOPES, parsed as the app loads: a JSON array of rules, each naming the Entra groups of
// callers and the groups or administrative units of devices they may reveal keys of. A leaf (config.ts
// reads it): a fault is reported by the rule's index and the line and column of the text it is at,
// never by quoting the value.

export interface RevealScopeRule {
  /** Entra group object ids (lower-case) a caller must be a member of, one of them. */
  callerGroups: readonly string[];
  /** Group or administrative-unit object ids (lower-case) the key's device must be a transitive member of, one of them. */
  deviceGroups: readonly string[];
  /** A key read under this rule needs an approved reveal request. */
  approval: boolean;
}

/** A malformed REVEAL_SCOPES: the message names the setting and where the fault is. */
export class RevealScopesError extends Error {
  override name = 'RevealScopesError';
}

/** Rules beyond this are a mistake, not a policy (each read checks them all). */
export const MAX_SCOPE_RULES = 500;
/** Group ids of one list of one rule. */
export const MAX_RULE_GROUPS = 1000;

/** Line and column (1-based) of `offset` in `text`. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return `line ${lines.length}, column ${lines[lines.length - 1].length + 1}`;
}

/** The text offset where each element of the top-level JSON array starts (the text already parsed as JSON). */
function elementOffsets(text: string): number[] {
  const offsets: number[] = [];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (/\s/.test(c)) continue;
    if (expectElement && depth === 1) {
      offsets.push(i);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return offsets;
}

/** The position JSON.parse reports ("at position N", or "line L column C" on newer engines), as an offset. */
function syntaxOffset(text: string, message: string): number | undefined {
  const position = /position (\d+)/.exec(message);
  if (position) return Number(position[1]);
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (!lineColumn) return /end of JSON input/i.test(message) ? text.length : undefined;
  const lines = text.split('\n');
  return lines.slice(0, Number(lineColumn[1]) - 1).reduce((sum, line) => sum + line.length + 1, 0) + Number(lineColumn[2]) - 1;
}

function groupList(value: unknown, name: string, fault: (problem: string) => never): string[] {
  if (!Array.isArray(value) || value.length === 0) fault(`"${name}" must be a non-empty array of group ids`);
  if (value.length > MAX_RULE_GROUPS) fault(`"${name}" may name at most ${MAX_RULE_GROUPS} groups`);
  return value.map((id: unknown, i) => {
    if (typeof id !== 'string' || !isGuid(id)) fault(`"${name}"[${i}] must be an Entra object id (a GUID)`);
    return id.toLowerCase();
  });
}

/** The rules of a REVEAL_SCOPES value; RevealScopesError naming the fault's position otherwise. */
export function parseRevealScopes(text: string): RevealScopeRule[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const offset = syntaxOffset(text, (error as Error).message);
    throw new RevealScopesError(`REVEAL_SCOPES is not valid JSON${offset === undefined ? '' : ` at ${lineAndColumn(text, offset)}`}`);
  }
  if (!Array.isArray(parsed)) throw new RevealScopesError('REVEAL_SCOPES must be a JSON array of rules, at line 1');
  if (parsed.length > MAX_SCOPE_RULES) throw new RevealScopesError(`REVEAL_SCOPES may hold at most ${MAX_SCOPE_RULES} rules`);
  const offsets = elementOffsets(text);
  return parsed.map((rule: unknown, index) => {
    const fault = (problem: string): never => {
      throw new RevealScopesError(`REVEAL_SCOPES rule ${index + 1} (at ${lineAndColumn(text, offsets[index] ?? 0)}): ${problem}`);
    };
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) return fault('must be an object');
    const unknown = Object.keys(rule).find((name) => !['callerGroups', 'deviceGroups', 'approval'].includes(name));
    if (unknown !== undefined) fault(`"${unknown.slice(0, 40)}" is not a rule property; allowed: callerGroups, deviceGroups, approval`);
    const { callerGroups, deviceGroups, approval } = rule as Record<string, unknown>;
    if (approval !== undefined && typeof approval !== 'boolean') fault('"approval" must be true or false');
    return {
      callerGroups: groupList(callerGroups, 'callerGroups', fault),
      deviceGroups: groupList(deviceGroups, 'deviceGroups', fault),
      approval: approval === true,
    };
  });
}
