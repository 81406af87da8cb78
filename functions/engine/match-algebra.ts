import type { Match } from '../rules/schema.ts';
import type { FlagChange } from './actions/types.ts';

/** Flag names compare without regard to case (RFC 3501 §2.3.2 defines them as atoms, and servers fold them). */
export function carries(flags: ReadonlySet<string> | undefined): (flag: string) => boolean {
  const folded = new Set([...(flags ?? [])].map((flag) => flag.toLowerCase()));
  return (flag) => folded.has(flag.toLowerCase());
}

/** The match for "carries `flag`" (true) or "lacks it" (false): system flags by their keys, others as keywords. */
export function flagMatch(flag: string, present: boolean): Match {
  const system = SYSTEM_FLAG_KEYS[flag.toLowerCase()];
  if (system) return { [system]: present };
  return present ? { keyword: flag } : { notKeyword: flag };
}

const SYSTEM_FLAG_KEYS: Record<string, 'seen' | 'flagged' | 'answered' | 'draft'> = {
  '\\seen': 'seen',
  '\\flagged': 'flagged',
  '\\answered': 'answered',
  '\\draft': 'draft',
};

/** `match` AND `extra`, where `extra` has a single key: added beside the others where that key is free. */
export function andMatch(match: Match, extra: Match): Match {
  const [key] = Object.keys(extra) as (keyof Match)[];
  if (key !== undefined && match[key] === undefined) return { ...match, ...extra };
  if (match.not === undefined) return { ...match, not: { not: extra } };
  // NOT (NOT match OR NOT extra) = match AND extra
  return { not: { any: [{ not: match }, { not: extra }] } };
}

/** Whether `flag` is a system flag SEARCH has a key of its own for (RFC 3501 §6.4.4), not a keyword. */
export function isSystemFlag(flag: string): boolean {
  return SYSTEM_FLAG_KEYS[flag.toLowerCase()] !== undefined;
}

/** What "not yet as the changes leave it" looks like to SEARCH: lacks a flag one adds, or carries one it removes. */
export function notYetApplied(changes: readonly FlagChange[]): Match[] {
  return changes.flatMap((change) => [
    ...change.add.map((flag) => flagMatch(flag, false)),
    ...change.remove.map((flag) => flagMatch(flag, true)),
  ]);
}

/** Whether a message (`has`: its flags) already looks as every change leaves it: each flag added, none removed. */
export function allApplied(changes: readonly FlagChange[], has: (flag: string) => boolean): boolean {
  return changes.every((change) => change.add.every(has) && !change.remove.some(has));
}

/** One match for any of `matches` (non-empty). */
export function anyOf(matches: readonly Match[]): Match {
  return matches.length === 1 ? (matches[0] as Match) : { any: [...matches] };
}
