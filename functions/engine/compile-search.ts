import { CapabilityError } from '../errors.ts';
import type { FetchMessageObject, FetchQueryObject, SearchObject } from '../imap/session.ts';
import { CLIENT_MATCH_KEYS } from '../rules/match-keys.ts';
import type { Match } from '../rules/schema.ts';
import { parseDuration, parseSize } from '../rules/units.ts';
import { type ClientCheck, clientChecksOf } from './client-checks.ts';

export interface SearchContext {
  readonly now: Date;
  /** Server offers WITHIN (RFC 5032): OLDER/YOUNGER compare INTERNALDATE to the second. */
  readonly hasWithin: boolean;
  /** Server is Gmail (X-GM-EXT-1), which takes its own search syntax as `X-GM-RAW`; absent: it is not. */
  readonly hasGmailSearch?: boolean;
}

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

const CLIENT_KEYS = new Set<string>(CLIENT_MATCH_KEYS);
const DURATION_KEYS = new Set(['olderThan', 'newerThan']);

/** Whether a key can only be decided exactly on the client in this context. */
function isClientKey(key: string, context: SearchContext): boolean {
  // Without WITHIN, SEARCH compares whole days only, so durations are checked against INTERNALDATE.
  return CLIENT_KEYS.has(key) || (DURATION_KEYS.has(key) && !context.hasWithin);
}

function isPure(match: Match, context: SearchContext): boolean {
  return Object.keys(match).every((key) => {
    if (key === 'any') return (match.any ?? []).every((inner) => isPure(inner, context));
    if (key === 'not') return match.not === undefined || isPure(match.not, context);
    return !isClientKey(key, context);
  });
}

/** The SEARCH keys of one match object, leaving out client keys and impure combinators. */
function serverKeysOf(match: Match, context: SearchContext, approximate: boolean): SearchObject {
  const query: SearchObject = {};
  const cutoff = (duration: string) => new Date(context.now.getTime() - parseDuration(duration));
  if (match.from !== undefined) query.from = match.from;
  if (match.to !== undefined) query.to = match.to;
  if (match.cc !== undefined) query.cc = match.cc;
  if (match.subject !== undefined) query.subject = match.subject;
  if (match.body !== undefined) query.body = match.body;
  if (match.text !== undefined) query.text = match.text;
  // An empty value asks only that the header exists (RFC 3501 §6.4.4).
  if (match.header) query.header = { ...match.header };
  if (match.seen !== undefined) query.seen = match.seen;
  if (match.flagged !== undefined) query.flagged = match.flagged;
  if (match.answered !== undefined) query.answered = match.answered;
  if (match.draft !== undefined) query.draft = match.draft;
  if (match.keyword !== undefined) query.keyword = match.keyword;
  if (match.notKeyword !== undefined) query.unKeyword = match.notKeyword;
  if (match.gmailSearch !== undefined) query.gmraw = gmailSearch(match.gmailSearch, context);
  if (match.larger !== undefined) query.larger = parseSize(match.larger);
  if (match.smaller !== undefined) query.smaller = parseSize(match.smaller);
  if (match.before !== undefined) query.before = `${match.before}T00:00:00.000Z`;
  if (match.since !== undefined) query.since = `${match.since}T00:00:00.000Z`;
  // imapflow sends `before`/`since` Dates as OLDER/YOUNGER seconds when WITHIN is offered (exact), else as
  // BEFORE/SINCE days rounded outwards, a superset the client narrows; only used where a superset is safe.
  if (context.hasWithin || approximate) {
    if (match.olderThan !== undefined) query.before = laterOf(query.before, cutoff(match.olderThan), 'min');
    if (match.newerThan !== undefined) query.since = laterOf(query.since, cutoff(match.newerThan), 'max');
  }
  if (match.any?.every((inner) => isPure(inner, context))) {
    query.or = match.any.map((inner) => serverKeysOf(inner, context, false));
  }
  if (match.not && isPure(match.not, context)) query.not = serverKeysOf(match.not, context, false);
  return query;
}

/** Gmail's own query (`has:attachment filename:pdf`), decided by Gmail; any other server has no such SEARCH key. */
function gmailSearch(query: string, context: SearchContext): string {
  if (!context.hasGmailSearch) {
    throw new CapabilityError(
      `gmailSearch ${JSON.stringify(query)} needs Gmail (the X-GM-EXT-1 extension), which this server does not offer; ` +
        'use the other match keys here',
    );
  }
  return query;
}

/** Combines two date bounds: the stricter one wins (`min` for before, `max` for since). */
function laterOf(current: SearchObject['before'], next: Date, pick: 'min' | 'max'): Date {
  if (current === undefined) return next;
  const existing = new Date(current);
  return (pick === 'min' ? existing < next : existing > next) ? existing : next;
}

function isEmptyQuery(query: SearchObject): boolean {
  return Object.keys(query).length === 0;
}

/** Exact INTERNALDATE checks for durations when the server cannot decide them. */
function durationChecks(match: Match, context: SearchContext): ClientCheck[] {
  if (context.hasWithin) return [];
  const checks: ClientCheck[] = [];
  const now = context.now.getTime();
  const received = (m: FetchMessageObject) =>
    m.internalDate ? new Date(m.internalDate).getTime() : Number.NaN;
  if (match.olderThan !== undefined) {
    const limit = now - parseDuration(match.olderThan);
    checks.push({ needs: { internalDate: true }, test: (m) => received(m) < limit });
  }
  if (match.newerThan !== undefined) {
    const limit = now - parseDuration(match.newerThan);
    checks.push({ needs: { internalDate: true }, test: (m) => received(m) >= limit });
  }
  return checks;
}

/**
 * Compiles a match tree. Pure-server trees become one UID SEARCH. A tree with client-side keys gets a
 * SEARCH of its top-level server keys (a superset), one extra SEARCH per server-only sub-tree that sits
 * under a combinator with client parts, and a per-message check of the rest: the number of commands
 * depends on the rule, never on the number of messages.
 */
export function compileSearch(match: Match, context: SearchContext): CompiledMatch {
  // Messages already marked \Deleted are on their way out (another client's choice, or our own move that was
  // cut short before its UID EXPUNGE): acting on them again could resurrect or duplicate them.
  const search: SearchObject = { ...serverKeysOf(match, context, true), deleted: false };
  if (isPure(match, context)) return { search, subSearches: [] };

  const subSearches: SearchObject[] = [];
  const needs: ClientCheck['needs'][] = [];

  const evaluatorOf = (node: Match, top: boolean): Evaluate => {
    if (!top && isPure(node, context)) {
      const index = subSearches.push(serverKeysOf(node, context, false)) - 1;
      return (message, sets) => sets[index]?.has(message.uid) ?? false;
    }
    const parts: Evaluate[] = [];
    if (!top) {
      const own = serverKeysOf(node, context, false);
      if (!isEmptyQuery(own)) {
        const index = subSearches.push(own) - 1;
        parts.push((message, sets) => sets[index]?.has(message.uid) ?? false);
      }
    }
    for (const check of [...clientChecksOf(node), ...durationChecks(node, context)]) {
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
  const headers = [...new Set(needs.flatMap((need) => need.headers ?? []))];
  const fetch: FetchQueryObject = {
    uid: true,
    ...(needs.some((need) => need.envelope) ? { envelope: true } : {}),
    ...(needs.some((need) => need.bodyStructure) ? { bodyStructure: true } : {}),
    ...(needs.some((need) => need.internalDate) ? { internalDate: true } : {}),
    ...(headers.length > 0 ? { headers } : {}),
  };
  return { search, subSearches, fetch, check };
}
