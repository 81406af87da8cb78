/**
 * What a real server decides for a match, the way a run decides it (engine/select-messages.ts): the compiled
 * UID SEARCH, one SEARCH per server-only sub-tree, and the client checks on one FETCH of what they need.
 */
import type { ImapSession } from '../../functions/imap/session.ts';
import { compileSearch } from '../../functions/match/compile-search.ts';
import type { MatchTree } from '../../functions/match/tree.ts';

export async function serverMatches(session: ImapSession, match: MatchTree, now: Date): Promise<Set<number>> {
  const compiled = compileSearch(match, {
    now,
    hasWithin: session.profile.within,
    hasGmailSearch: session.profile.labels,
  });
  const found = await session.searchUids(compiled.search);
  if (!compiled.check || !compiled.fetch || found.length === 0) return new Set(found);
  const subResults: Set<number>[] = [];
  for (const query of compiled.subSearches) subResults.push(new Set(await session.searchUids(query)));
  const { messages } = await session.fetch(found, compiled.fetch);
  const check = compiled.check;
  return new Set(messages.filter((message) => check(message, subResults)).map((message) => message.uid));
}
