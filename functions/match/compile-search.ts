import type { FetchMessageObject, FetchQueryObject, SearchObject } from '../imap/session.ts';
import { type ClientCheck, fetchFor, type SearchContext } from './define.ts';
import { groupedAsMeant, mergesNegatedFlags, misreadByDovecot } from './search-hazards.ts';
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

/**
 * One match object's part the server decides: its own SEARCH keys (with `superset`, also the SEARCH forms of keys
 * the client decides, where a superset is safe: olderThan without WITHIN as BEFORE whole days), its `any` where
 * every branch is pure, its `not` where the operand is; an `any` or `not` left out is the client's.
 */
function serverPartOf(match: MatchTree, context: SearchContext, superset: boolean): ServerPart {
  // Each node's part is asked for again by its parents' purity checks: kept, the compile stays linear in the tree.
  const known = PARTS.get(context) ?? new WeakMap<MatchTree, ServerPart[]>();
  PARTS.set(context, known);
  const parts = known.get(match) ?? [];
  known.set(match, parts);
  const index = superset ? 1 : 0;
  parts[index] ??= partOf(match, context, superset);
  return parts[index];
}

interface ServerPart {
  readonly query: SearchObject;
  readonly anyOnServer: boolean;
  readonly notOnServer: boolean;
}

const PARTS = new WeakMap<SearchContext, WeakMap<MatchTree, ServerPart[]>>();

function partOf(match: MatchTree, context: SearchContext, superset: boolean): ServerPart {
  let query: SearchObject = {};
  for (const { definition, value } of leavesOf(match)) {
    if (definition.hasSearch && (superset || !definition.clientSide(context))) {
      definition.search(value, query, { ...context, superset });
    }
  }
  // What Dovecot would answer wrongly, or imapflow would send without the grouping meant, is left to the client
  // (search-hazards.ts).
  const safely = (candidate: SearchObject) =>
    misreadByDovecot(candidate) || mergesNegatedFlags(candidate) || !groupedAsMeant(candidate)
      ? undefined
      : candidate;
  let anyOnServer = false;
  if (match.any?.every((inner) => isPure(inner, context))) {
    const candidate = safely({ ...query, or: match.any.map((inner) => serverKeysOf(inner, context, false)) });
    if (candidate) [query, anyOnServer] = [candidate, true];
  }
  let notOnServer = false;
  if (match.not && isPure(match.not, context)) {
    const candidate = withNot(query, serverKeysOf(match.not, context, false));
    const safe = candidate && safely(candidate);
    if (safe) [query, notOnServer] = [safe, true];
  }
  return { query, anyOnServer, notOnServer };
}

/**
 * `query` AND NOT `operand`. A NOT of a NOT is sent as what it negates, merged into `query` (Courier refuses
 * `NOT NOT …` with "Error in IMAP command received by server", though RFC 3501 §6.4.4 allows it); where a key of it
 * is taken already, undefined: that NOT is decided on the client.
 */
function withNot(query: SearchObject, operand: SearchObject): SearchObject | undefined {
  const keys = Object.keys(operand);
  if (keys.length !== 1 || keys[0] !== 'not' || operand.not === undefined) return { ...query, not: operand };
  const negated = operand.not;
  if (Object.keys(negated).some((key) => key in query)) return undefined;
  return { ...query, ...negated };
}

/** Whether SEARCH alone decides the whole tree in this context. */
function isPure(match: MatchTree, context: SearchContext): boolean {
  if (leavesOf(match).some(({ definition }) => definition.clientSide(context))) return false;
  const { anyOnServer, notOnServer } = serverPartOf(match, context, false);
  return (match.any === undefined || anyOnServer) && (match.not === undefined || notOnServer);
}

function serverKeysOf(match: MatchTree, context: SearchContext, superset: boolean): SearchObject {
  return serverPartOf(match, context, superset).query;
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
  // The top-level SEARCH is the superset form, and the client decides exactly what that form leaves out.
  const top = serverPartOf(match, context, true);
  const search: SearchObject = { ...top.query, deleted: false };
  const clientLeaves = leavesOf(match).some(({ definition }) => definition.clientSide(context));
  const whole = (match.any === undefined || top.anyOnServer) && (match.not === undefined || top.notOnServer);
  if (!clientLeaves && whole) return { search, subSearches: [] };

  const subSearches: SearchObject[] = [];
  const needs: ClientCheck['needs'][] = [];
  const fromSubSearch = (query: SearchObject): Evaluate => {
    const index = subSearches.push(query) - 1;
    return (message, sets) => sets[index]?.has(message.uid) ?? false;
  };

  const evaluatorOf = (node: MatchTree, topLevel: boolean): Evaluate => {
    if (!topLevel && isPure(node, context)) return fromSubSearch(serverKeysOf(node, context, false));
    const parts: Evaluate[] = [];
    if (!topLevel) {
      const own = serverKeysOf(node, context, false);
      if (Object.keys(own).length > 0) parts.push(fromSubSearch(own));
    }
    for (const check of clientChecksOf(node, context)) {
      needs.push(check.needs);
      parts.push((message) => check.test(message));
    }
    const { anyOnServer, notOnServer } =
      node === match && topLevel ? top : serverPartOf(node, context, false);
    if (node.any && !anyOnServer) {
      const branches = node.any.map((inner) => evaluatorOf(inner, false));
      parts.push((message, sets) => branches.some((branch) => branch(message, sets)));
    }
    if (node.not && !notOnServer) {
      const inner = evaluatorOf(node.not, false);
      parts.push((message, sets) => !inner(message, sets));
    }
    return (message, sets) => parts.every((part) => part(message, sets));
  };

  const check = evaluatorOf(match, true);
  return { search, subSearches, fetch: fetchFor(needs), check };
}
