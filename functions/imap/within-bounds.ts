import type { SearchObject } from 'imapflow';

/** A SEARCH no message can satisfy: not sent at all. */
export const MATCHES_NOTHING = Symbol('matches nothing');

/**
 * Under WITHIN, imapflow sends a `before` or `since` Date as OLDER or YOUNGER with the seconds between it and
 * now, rounded; RFC 5032 §3 allows only non-zero intervals (`nz-number`), and servers refuse `OLDER 0` (Dovecot:
 * "Invalid search interval parameter"). So a bound less than a second ago, or in the future, is never sent:
 * `before` it holds for every message (left out), `since` for none (the conjunction it stands in matches
 * nothing). NOT and OR follow: an OR branch that matches nothing is left out, and so on up.
 */
export function withinBounds(query: SearchObject, nowMs: number): SearchObject | typeof MATCHES_NOTHING {
  const out: SearchObject = { ...query };
  if (out.before !== undefined && !atLeastASecondAgo(out.before, nowMs)) delete out.before;
  if (out.since !== undefined && !atLeastASecondAgo(out.since, nowMs)) return MATCHES_NOTHING;
  if (out.not !== undefined) {
    const inner = withinBounds(out.not, nowMs);
    if (inner === MATCHES_NOTHING) delete out.not;
    else if (Object.keys(inner).length === 0) return MATCHES_NOTHING;
    else out.not = inner;
  }
  if (out.or !== undefined) {
    const branches = out.or.map((branch) => withinBounds(branch, nowMs));
    const left = branches.filter((branch): branch is SearchObject => branch !== MATCHES_NOTHING);
    if (left.length === 0) return MATCHES_NOTHING;
    if (left.some((branch) => Object.keys(branch).length === 0)) delete out.or;
    else if (
      left.length === 1 &&
      Object.keys(left[0] as SearchObject).every((key) => !(key in out) || key === 'or')
    ) {
      // imapflow sends a one-branch OR as its branch, ungrouped: its keys go into this list instead, ANDed as meant.
      delete out.or;
      Object.assign(out, left[0]);
    } else out.or = left;
  }
  return out;
}

function atLeastASecondAgo(bound: Date | string, nowMs: number): boolean {
  const at = new Date(bound).getTime();
  // Not a date: imapflow leaves it out itself.
  return Number.isNaN(at) || Math.round((nowMs - at) / 1000) >= 1;
}
