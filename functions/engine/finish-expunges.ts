import type { ImapSession, MailboxInfo } from '../imap/session.ts';
import { chunkUidSet } from '../imap/uid-set.ts';
import type { AccountState } from './account-state.ts';

/**
 * Expunges what an earlier run of ours marked `\Deleted` in `mailbox` and then lost the connection before its
 * `UID EXPUNGE`: the pending-expunge record names those UIDs. Of them only the ones still `\Deleted` go (a
 * message someone restored meanwhile stays); other clients' `\Deleted` mail is in no record and never touched.
 * Returns how many it expunged. Costs nothing when no record is pending.
 */
export async function finishInterruptedExpunges(
  session: ImapSession,
  state: AccountState,
  mailbox: MailboxInfo,
): Promise<number> {
  if (!session.profile.uidPlus) return 0;
  const pending = state.pendingExpunges(mailbox);
  const uids = await pending.pending();
  if (uids.length === 0) return 0;
  const still: number[] = [];
  // One SEARCH per chunk: a long, scattered record must not become a line the server refuses.
  for (const set of chunkUidSet(uids, session.profile.maxUidSetLength))
    still.push(...(await session.searchUids({ deleted: true, uid: set })));
  await session.expungeExactly(still);
  await pending.done();
  return still.length;
}
