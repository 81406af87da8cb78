import type { ImapSession, MailboxInfo, SearchObject } from '../imap/session.ts';
import { compileSearch } from '../match/compile-search.ts';
import type { Rule } from '../rules/schema.ts';
import type { AccountState } from './account-state.ts';
import type { FlagChange } from './actions/types.ts';
import { deliveryMarks, dropFinished, withoutFinished } from './delivery-exclusions.ts';
import { dropNoOps, flagOnlyChanges, searchableChanges, withoutNoOps } from './flag-no-ops.ts';
import { type RuleScan, withinChanges } from './scan.ts';
import type { MessageProblem } from './summary.ts';
import { UNREADABLE_REASON } from './unreadable.ts';

/** The messages a rule selected, oldest first, and those whose client-side checks could not be made. */
export interface Selection {
  readonly matched: number[];
  /** Of `matched`, those on which the actions would change something (all, but for flag-only rules). */
  readonly actionable: readonly number[];
  readonly skipped: MessageProblem[];
}

interface SelectionContext {
  readonly now: Date;
  readonly state: AccountState;
  readonly heldBack: ReadonlySet<number>;
  /**
   * Whether SEARCH can name a keyword mailsift sets: a real run on a mailbox that keeps it. Elsewhere the client
   * leaves out what a webhook finished (dropFinished) and what a flag change would not change (dropNoOps).
   */
  readonly searchesKeyword: (keyword: string) => boolean;
  /** A real run keeps the delivery records it reads from expiring; a dry run writes nothing. */
  readonly refreshDeliveries: boolean;
  /** Every message, or only those that changed since the checkpoint (none: no SEARCH at all). */
  readonly scan: RuleScan;
}

/**
 * What a rule selects in the selected mailbox (matchMessages), and of that what its actions would change: a
 * flag-only rule leaves out in its SEARCH the messages that already look as it would leave them, except a `stop`
 * rule, which holds back everything it matches, and where SEARCH cannot name the keyword; there one FETCH does.
 */
export async function selectMessages(
  session: ImapSession,
  rule: Rule,
  mailbox: MailboxInfo,
  context: SelectionContext,
): Promise<Selection> {
  const { scan } = context;
  if (scan.scan === 'incremental' && !scan.changes) return { matched: [], actionable: [], skipped: [] };
  const changes = flagOnlyChanges(rule);
  const onServer = changes !== undefined && !rule.stop && searchableChanges(changes, context.searchesKeyword);
  const found = await matchMessages(session, rule, mailbox, context, onServer ? changes : undefined);
  const actionable = changes && !onServer ? await dropNoOps(session, found.matched, changes) : found.matched;
  return { ...found, actionable };
}

/**
 * What a rule matches: its UID SEARCH (saved as `$` where the server can, so that actions on exactly these
 * messages send `$`, RFC 5182), narrowed to what changed since the checkpoint in an incremental scan, less the
 * messages it finished (webhook dedupe) and those earlier rules hold back, then the client-side checks SEARCH
 * cannot make (one FETCH of just what they need, plus one SEARCH per server-only sub-tree).
 */
async function matchMessages(
  session: ImapSession,
  rule: Rule,
  mailbox: MailboxInfo,
  context: SelectionContext,
  noOps: readonly FlagChange[] | undefined,
): Promise<Omit<Selection, 'actionable'>> {
  const { scan } = context;
  const narrow = (query: SearchObject) =>
    scan.scan === 'incremental' && scan.changes ? withinChanges(query, scan.changes) : query;
  const marks = deliveryMarks(rule);
  // All marks on the server, or all on the client: a message is left out only when every mark finished it.
  const searchable = marks.every((mark) => context.searchesKeyword(mark.keyword));
  const match = withoutFinished(rule.match, searchable ? marks : []);
  const compiled = compileSearch(noOps ? withoutNoOps(match, noOps) : match, {
    now: context.now,
    hasWithin: session.profile.within,
    hasGmailSearch: session.profile.labels,
  });
  const found = await session.searchUids(narrow(compiled.search), { save: true });
  let candidates = found.filter((uid) => !context.heldBack.has(uid));
  if (!searchable && candidates.length > 0) {
    candidates = await dropFinished(session, mailbox, context.state, marks, candidates, {
      refresh: context.refreshDeliveries,
    });
  }
  if (!compiled.check || !compiled.fetch || candidates.length === 0)
    return { matched: candidates, skipped: [] };
  const subResults: Set<number>[] = [];
  for (const query of compiled.subSearches) subResults.push(new Set(await session.searchUids(narrow(query))));
  const check = compiled.check;
  const { messages, unreadable } = await session.fetch(candidates, compiled.fetch);
  const matched = messages
    .filter((message) => check(message, subResults))
    .map((message) => message.uid)
    .sort((a, b) => a - b);
  return { matched, skipped: unreadable.map((uid) => ({ uid, reason: UNREADABLE_REASON })) };
}
