import type { Match } from '../rules/schema.ts';

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
