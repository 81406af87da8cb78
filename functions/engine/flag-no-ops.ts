import type { ImapSession } from '../imap/session.ts';
import type { Match, Rule } from '../rules/schema.ts';
import { stepOf } from './actions/index.ts';
import type { FlagChange } from './actions/types.ts';
import { allApplied, andMatch, anyOf, carries, isSystemFlag, notYetApplied } from './match-algebra.ts';

/**
 * A rule whose actions all change flags can act for nothing: a message it tagged still matches. Such messages
 * are not acted on and do not use up `limit` run after run while the rest wait. Undefined for every other rule
 * (a copy, a move or a post changes something every time; a webhook's own exclusion is delivery-exclusions.ts).
 */
export function flagOnlyChanges(rule: Rule): FlagChange[] | undefined {
  const changes = rule.actions.map((action) => {
    const { definition, params } = stepOf(action);
    return definition.flagChange(params);
  });
  return changes.every((change) => change !== undefined) ? changes : undefined;
}

/** Whether SEARCH can leave the no-ops out: every flag is a system flag or a keyword SEARCH may name. */
export function searchableChanges(
  changes: readonly FlagChange[],
  searchesKeyword: (keyword: string) => boolean,
): boolean {
  return changes.every((change) =>
    [...change.add, ...change.remove].every((flag) => isSystemFlag(flag) || searchesKeyword(flag)),
  );
}

/** `match`, narrowed to messages on which some change would change something: lacks a flag added, or carries one removed. */
export function withoutNoOps(match: Match, changes: readonly FlagChange[]): Match {
  return andMatch(match, anyOf(notYetApplied(changes)));
}

/** The same on the client, from one FETCH of FLAGS: for `stop` rules (which hold back all they match) and dry runs. */
export async function dropNoOps(
  session: ImapSession,
  matched: readonly number[],
  changes: readonly FlagChange[],
): Promise<number[]> {
  if (matched.length === 0) return [];
  const { messages } = await session.fetch(matched, { flags: true });
  const flagsOf = new Map(messages.map((message) => [message.uid, message.flags]));
  return matched.filter((uid) => !allApplied(changes, carries(flagsOf.get(uid))));
}
