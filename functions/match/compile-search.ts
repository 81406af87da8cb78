import type { FetchMessageObject, FetchQueryObject, SearchObject } from '../imap/session.ts';
import { type ClientCheck, fetchFor, type SearchContext } from './define.ts';
import { leavesOf, type MatchTree } from './tree.ts';

export type { SearchContext } from './define.ts';

/** A rule's match, split into what the server decides and what the client must check. */
export interface CompiledMatch {
  /** The UID SEARCH, always with UNDELETED; exactly the matches when `check` is absent, else a superset. */
  readonly search: SearchObject;
  /** Searches for sub-trees that sit under a combinator with client-side parts; run once per rule. */
  readonly subSearches: readonly SearchObject[];
  /** FETCH items `check` needs. */
  readonly fetch?: FetchQueryObject;
  /** Decides one candidate, given the UID sets `subSearches` returned (same order). */
  readonly check?: (message: FetchMessageObject, subResults: readonly ReadonlySet<number>[]) => boolean;
}

type Evaluate = (message: FetchMessageObject, subResults: readonly ReadonlySet<number>[]) => boolean;

/** Whether SEARCH alone decides the whole tree in this context. */
function isPure(match: MatchTree, context: SearchContext): boolean {
  return (
    leavesOf(match).every(({ definition }) => !definition.clientSide(context)) &&
    (match.any ?? []).every((inner) => isPure(inner, context)) &&
    (match.not === undefined || isPure(match.not, context))
  );
}

/**
 * The SEARCH keys of one match object, leaving out client keys and impure combinators; with `superset`, the
 * client keys that have a SEARCH form narrow it (olderThan without WITHIN: BEFORE whole days), where a superset
 * is safe.
 */
function serverKeysOf(match: MatchTree, context: SearchContext, superset: boolean): SearchObject {
  const query: SearchObject = {};
  for (const { definition, value } of leavesOf(match)) {
    if (definition.hasSearch && (superset || !definition.clientSide(context))) {
      definition.search(value, query, { ...context, superset });
    }
  }
  if (match.any?.every((inner) => isPure(inner, context))) {
    query.or = match.any.map((inner) => serverKeysOf(inner, context, false));
  }
  if (match.not && isPure(match.not, context)) query.not = serverKeysOf(match.not, context, false);
  return query;
}

/** The client checks of one match object's own keys. */
function clientChecksOf(match: MatchTree, context: SearchContext): ClientCheck[] {
  return leavesOf(match).flatMap(({ definition, value }) =>
    definition.clientSide(context) ? (definition.check(value, context) ?? []) : [],
  );
}

/**
 * Compiles a match tree. Pure-server trees become one UID SEARCH. A tree with client-side keys gets a
 * SEARCH of its top-level server keys (a superset), one extra SEARCH per server-only sub-tree that sits
 * under a combinator with client parts, and a per-message check of the rest: the number of commands
 * depends on the rule, never on the number of messages.
 */
export function compileSearch(match: MatchTree, context: SearchContext): CompiledMatch {
  // Messages already marked \Deleted are on their way out (another client's choice, or our own move that was
  // cut short before its UID EXPUNGE): acting on them again could resurrect or duplicate them.
  const search: SearchObject = { ...serverKeysOf(match, context, true), deleted: false };
  if (isPure(match, context)) return { search, subSearches: [] };

  const subSearches: SearchObject[] = [];
  const needs: ClientCheck['needs'][] = [];
  const fromSubSearch = (query: SearchObject): Evaluate => {
    const index = subSearches.push(query) - 1;
    return (message, sets) => sets[index]?.has(message.uid) ?? false;
  };

  const evaluatorOf = (node: MatchTree, top: boolean): Evaluate => {
    if (!top && isPure(node, context)) return fromSubSearch(serverKeysOf(node, context, false));
    const parts: Evaluate[] = [];
    if (!top) {
      const own = serverKeysOf(node, context, false);
      if (Object.keys(own).length > 0) parts.push(fromSubSearch(own));
    }
    for (const check of clientChecksOf(node, context)) {
      needs.push(check.needs);
      parts.push((message) => check.test(message));
    }
    if (node.any && !node.any.every((inner) => isPure(inner, context))) {
      const branches = node.any.map((inner) => evaluatorOf(inner, false));
      parts.push((message, sets) => branches.some((branch) => branch(message, sets)));
    }
    if (node.not && !isPure(node.not, context)) {
      const inner = evaluatorOf(node.not, false);
      parts.push((message, sets) => !inner(message, sets));
    }
    return (message, sets) => parts.every((part) => part(message, sets));
  };

  const check = evaluatorOf(match, true);
  return { search, subSearches, fetch: fetchFor(needs), check };
}
