import type { SearchObject } from '../imap/session.ts';

/** SEARCH keys that compare with a bound; Dovecot merges two of one kind in one list. */
const BOUND_KEYS = new Set(['before', 'since', 'larger', 'smaller']);

/**
 * Whether a SEARCH, sent as it is, would be answered wrongly by Dovecot 2.3 (2.3.19 checked), whose simplifier
 * (src/lib-storage/mail-search-args-simplify.c) forgets negation in two places:
 * - two negated bounds of one kind in one list are merged as if they were not negated:
 *   `NOT (OLDER 400d OLDER 90m)` and `OR (NOT LARGER 1) (NOT LARGER 100000)` find nothing for a message 185 days
 *   old of 20 bytes, where RFC 3501 §6.4.4 has both match;
 * - a negated list inside another list is taken as not negated when common parts are factored out:
 *   `OR LARGER 1000 (NOT (HEADER X-Mailer mail LARGER 1000))`, true of every message, finds only the large ones.
 * - a list that holds one condition twice, written two ways (`UNFLAGGED NOT FLAGGED`), inside another list loses
 *   that branch when common parts are factored out: `OR (UNFLAGGED NOT UNFLAGGED) (UNFLAGGED NOT FLAGGED)` finds
 *   no unflagged message.
 * Negation is counted as Dovecot applies it, through De Morgan (a list under an even number of NOTs is not
 * negated); a negated list straight in the top-level list is safe. The test is coarser than the bugs (two bounds
 * may sit in lists Dovecot keeps apart, a list may share nothing): the cost of a false alarm is one more SEARCH,
 * as the compiler then decides that NOT or OR on the client.
 */
export function misreadByDovecot(query: SearchObject): boolean {
  const negatedBounds = new Map<string, number>();
  let nestedNegatedList = false; // or a nested list holding one condition twice
  // `top`: the object is the top-level list, or a NOT's operand straight in it.
  const walk = (node: SearchObject, negations: number, top: boolean, isTopList: boolean) => {
    if (!top && ((negations % 2 === 1 && isList(node)) || holdsTwice(node))) nestedNegatedList = true;
    for (const [key, value] of Object.entries(node)) {
      if (value === undefined) continue;
      if (key === 'not') walk(value as SearchObject, negations + 1, isTopList, false);
      else if (key === 'or')
        for (const branch of value as SearchObject[]) walk(branch, negations, false, false);
      else if (negations % 2 === 1 && BOUND_KEYS.has(key)) {
        negatedBounds.set(key, (negatedBounds.get(key) ?? 0) + 1);
      }
    }
  };
  walk(query, 0, true, true);
  return nestedNegatedList || [...negatedBounds.values()].some((count) => count >= 2);
}

/** Whether an object holds one condition twice, as Dovecot parses it: `seen: false` and `not: { seen: true }`. */
function holdsTwice(node: SearchObject): boolean {
  const seen = new Set<string>();
  for (const atom of atomsOf(node, false)) {
    if (seen.has(atom)) return true;
    seen.add(atom);
  }
  return false;
}

const NEGATED_FORMS: Readonly<Record<string, string>> = { unKeyword: 'keyword' };

/** The conditions of an object's own list (an operand of one condition under `not` counted, negated). */
function atomsOf(node: SearchObject, negated: boolean): string[] {
  return Object.entries(node).flatMap(([key, value]): string[] => {
    if (value === undefined || key === 'or') return [];
    if (key === 'not') {
      const operand = value as SearchObject;
      return isList(operand) ? [] : atomsOf(operand, !negated);
    }
    // Each as `key value negated`: `seen: false` is `seen true negated`, `unKeyword: $X` is `keyword $x negated`.
    if (typeof value === 'boolean') return [`${key} true ${(value === false) !== negated}`];
    const base = NEGATED_FORMS[key];
    if (base) return [`${base} ${String(value).toLowerCase()} ${!negated}`];
    if (key === 'keyword') return [`keyword ${String(value).toLowerCase()} ${negated}`];
    return [`${key} ${JSON.stringify(value)} ${negated}`];
  });
}

/** Whether imapflow sends this object as a list: two or more keys in parentheses, or an OR. */
function isList(node: SearchObject): boolean {
  return termsOf(node) >= 2 || (node.or?.length ?? 0) >= 2;
}

/** How many SEARCH terms an object's own keys stand for (a `header` one per field). */
function termsOf(node: SearchObject): number {
  return Object.entries(node).reduce(
    (count, [key, value]) =>
      value === undefined ? count : count + (key === 'header' ? Object.keys(value as object).length : 1),
    0,
  );
}

/**
 * Whether imapflow sends the query with the grouping it means. It puts a NOT's operand or an OR's branch in
 * parentheses only when the object has several keys, and sends a one-branch OR as that branch: so a NOT of one
 * `header` with two fields goes out as `NOT HEADER A a HEADER B b`, (NOT A) AND B. Such a query is not sent; a
 * one-branch OR straight in the top-level list is safe (it is ANDed there anyway).
 */
export function groupedAsMeant(query: SearchObject): boolean {
  const walk = (node: SearchObject, top: boolean): boolean =>
    Object.entries(node).every(([key, value]) => {
      if (value === undefined) return true;
      if (key === 'not') return !loose(value as SearchObject) && walk(value as SearchObject, false);
      if (key !== 'or') return true;
      const branches = value as SearchObject[];
      if (branches.length === 1 && !top) return false;
      return branches.every((branch) => !loose(branch) && walk(branch, false));
    });
  return walk(query, true);
}

/** One key that stands for several SEARCH terms (a `header` of several fields): imapflow would not group them. */
function loose(node: SearchObject): boolean {
  const keys = Object.keys(node).filter((key) => node[key as keyof SearchObject] !== undefined);
  return keys.length === 1 && keys[0] === 'header' && Object.keys(node.header ?? {}).length >= 2;
}

const SYSTEM_FLAGS = new Set(['seen', 'flagged', 'answered', 'draft', 'deleted']);

/**
 * Whether an OR, as Dovecot 2.3 sees it after De Morgan, holds two negated system flags: its simplifier merges them
 * into one NOT over both flags and then finds messages lacking both, not either (`OR UNSEEN UNFLAGGED` finds no
 * message that is seen and unflagged; `NOT (DRAFT SEEN)` neither). A flag-only rule that sets two system flags
 * asks exactly that. An OR is an `or` under an even number of NOTs, or a list of several terms under an odd one.
 */
export function mergesNegatedFlags(query: SearchObject): boolean {
  // Negated flags straight in the OR list `node` stands for (flattening ORs of ORs), at `negations`.
  const negatedIn = (branches: readonly SearchObject[], negations: number): number =>
    branches.reduce((count, branch) => {
      const keys = Object.keys(branch).filter((key) => branch[key as keyof SearchObject] !== undefined);
      if (keys.length !== 1) return count;
      if (keys[0] === 'or') return count + negatedIn(branch.or ?? [], negations);
      return count + negatedFlags(branch, negations);
    }, 0);
  const walk = (node: SearchObject, negations: number): boolean => {
    const odd = negations % 2 === 1;
    // Several terms under an odd number of NOTs: an OR once Dovecot applies De Morgan.
    if (odd && termsOf(node) >= 2 && negatedFlags(node, negations) >= 2) return true;
    return Object.entries(node).some(([key, value]) => {
      if (key === 'not') return walk(value as SearchObject, negations + 1);
      if (key !== 'or') return false;
      const branches = value as SearchObject[];
      if (!odd && negatedIn(branches, negations) >= 2) return true;
      return branches.some((branch) => walk(branch, negations));
    });
  };
  return walk(query, 0);
}

/** System flags among an object's own terms (and a NOT of one term) that are negated, counting NOTs above. */
function negatedFlags(node: SearchObject, negations: number): number {
  return Object.entries(node).reduce((count, [key, value]) => {
    if (SYSTEM_FLAGS.has(key) && typeof value === 'boolean')
      return count + ((value === false) !== (negations % 2 === 1) ? 1 : 0);
    if (key === 'not' && !isList(value as SearchObject))
      return count + negatedFlags(value as SearchObject, negations + 1);
    return count;
  }, 0);
}
