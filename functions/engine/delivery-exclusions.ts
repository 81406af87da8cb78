import type { ImapSession, MailboxInfo } from '../imap/session.ts';
import type { Match, Rule } from '../rules/schema.ts';
import type { AccountState } from './account-state.ts';
import { stepOf } from './actions/index.ts';
import type { FlagChange } from './actions/types.ts';
import { allApplied, andMatch, anyOf, carries, notYetApplied } from './match-algebra.ts';

/** An action that marks the messages it finished (a webhook with dedupe), and the flag changes after it. */
export interface DeliveryMark {
  readonly keyword: string;
  readonly later: readonly FlagChange[];
}

/**
 * A rule's delivery marks. After a later action that moves or deletes, a delivered message still in the mailbox
 * is one whose move was interrupted: nothing is excluded for that mark.
 */
export function deliveryMarks(rule: Rule): DeliveryMark[] {
  const steps = rule.actions.map(stepOf);
  return steps.flatMap((step, index) => {
    const keyword = step.definition.deliveryMark(step.params, rule.name);
    const later = steps.slice(index + 1);
    if (keyword === undefined || later.some((each) => each.definition.removesMessages)) return [];
    return [{ keyword, later: later.flatMap((each) => each.definition.flagChange(each.params) ?? []) }];
  });
}

/**
 * The rule's match without the messages it finished, for servers that keep the keywords: "finished" is the
 * delivery keyword plus what the later actions leave behind (flags added, flags removed). A message that was
 * delivered but whose later actions were interrupted still matches; the webhook passes it on unposted.
 */
export function withoutFinished(match: Match, marks: readonly DeliveryMark[]): Match {
  if (marks.length === 0) return match;
  // Left out only when finished under every mark (two webhooks: a message the first finished still goes to the
  // second). NOT finished = for some mark: NOT its keyword, OR a flag not added yet, OR a flag not removed yet.
  const unfinished = marks.flatMap((mark): Match[] => [
    { notKeyword: mark.keyword },
    ...notYetApplied(mark.later),
  ]);
  return andMatch(match, anyOf(unfinished));
}

/**
 * Leaves out of `candidates` the messages finished under `marks`, on the client: delivered (the state store's
 * record, or the keyword on the message) and carrying what the later actions leave (from one FETCH of FLAGS).
 * For servers that cannot store the keywords (Exchange Online), where SEARCH KEYWORD is refused, and for dry
 * runs, whose EXAMINEd mailbox does not tell whether keywords can be stored.
 */
export async function dropFinished(
  session: ImapSession,
  mailbox: MailboxInfo,
  state: AccountState,
  marks: readonly DeliveryMark[],
  candidates: readonly number[],
  options: { readonly refresh: boolean },
): Promise<number[]> {
  const { messages } = await session.fetch(candidates, { flags: true });
  const flagsOf = new Map(messages.map((message) => [message.uid, message.flags ?? new Set<string>()]));
  const delivered: ReadonlySet<number>[] = [];
  for (const mark of marks) delivered.push(await state.deliveries(mailbox, mark.keyword).load(options));
  // Left out only when finished under every mark, as withoutFinished.
  return candidates.filter((uid) => {
    const has = carries(flagsOf.get(uid));
    const finished = (mark: DeliveryMark, index: number) =>
      (delivered[index]?.has(uid) || has(mark.keyword)) && allApplied(mark.later, has);
    return !marks.every(finished);
  });
}
