import type { ImapSession, MailboxInfo } from '../imap/session.ts';
import type { Rule } from '../rules/schema.ts';
import type { AccountState } from './account-state.ts';
import { compileSearch } from './compile-search.ts';
import { deliveryMarks, dropFinished, withoutFinished } from './delivery-exclusions.ts';
import type { MessageProblem } from './summary.ts';
import { UNREADABLE_REASON } from './unreadable.ts';

/** The messages a rule selected, oldest first, and those whose client-side checks could not be made. */
export interface Selection {
  readonly matched: number[];
  readonly skipped: MessageProblem[];
}

/**
 * What a rule matches in the selected mailbox: its UID SEARCH (saved as `$` where the server can, so that
 * actions on exactly these messages send `$`, RFC 5182), less the messages it finished (webhook dedupe) and
 * those earlier rules hold back, then the client-side checks SEARCH cannot make (one FETCH of just what they
 * need, plus one SEARCH per server-only sub-tree).
 */
export async function selectMessages(
  session: ImapSession,
  rule: Rule,
  mailbox: MailboxInfo,
  context: {
    readonly now: Date;
    readonly state: AccountState;
    readonly heldBack: ReadonlySet<number>;
    /**
     * Whether SEARCH can leave out what a webhook finished: a real run on a mailbox that keeps the keyword.
     * Elsewhere the client does (dropFinished).
     */
    readonly searchesKeyword: (keyword: string) => boolean;
    /** A real run keeps the delivery records it reads from expiring; a dry run writes nothing. */
    readonly refreshDeliveries: boolean;
  },
): Promise<Selection> {
  const marks = deliveryMarks(rule);
  // All marks on the server, or all on the client: a message is left out only when every mark finished it.
  const searchable = marks.every((mark) => context.searchesKeyword(mark.keyword));
  const compiled = compileSearch(withoutFinished(rule.match, searchable ? marks : []), {
    now: context.now,
    hasWithin: session.hasCapability('WITHIN'),
  });
  const found = await session.searchUids(compiled.search, { save: true });
  let candidates = found.filter((uid) => !context.heldBack.has(uid));
  if (!searchable && candidates.length > 0) {
    candidates = await dropFinished(session, mailbox, context.state, marks, candidates, {
      refresh: context.refreshDeliveries,
    });
  }
  if (!compiled.check || !compiled.fetch || candidates.length === 0)
    return { matched: candidates, skipped: [] };
  const subResults: Set<number>[] = [];
  for (const query of compiled.subSearches) subResults.push(new Set(await session.searchUids(query)));
  const check = compiled.check;
  const { messages, unreadable } = await session.fetch(candidates, compiled.fetch);
  const matched = messages
    .filter((message) => check(message, subResults))
    .map((message) => message.uid)
    .sort((a, b) => a - b);
  return { matched, skipped: unreadable.map((uid) => ({ uid, reason: UNREADABLE_REASON })) };
}
