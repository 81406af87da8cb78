import type { ImapSession, MailboxInfo } from '../imap/session.ts';
import { chunkUidSet } from '../imap/uid-set.ts';
import type { AccountState } from './account-state.ts';

/**
 * Expunges what an earlier run of ours marked `\Deleted` in `mailbox` and then lost the connection before its
 * `UID EXPUNGE`: the pending-expunge record names those UIDs. Of them only the ones still `\Deleted` go (a
 * message someone restored meanwhile stays); other clients' `\Deleted` mail is in no record and never touched.
 * Returns how many it expunged, and the records it did not believe. Costs nothing when no record is pending.
 */
export async function finishInterruptedExpunges(
  session: ImapSession,
  state: AccountState,
  mailbox: MailboxInfo,
): Promise<{ finished: number; forgotten: string[] }> {
  if (!session.profile.uidPlus) return { finished: 0, forgotten: [] };
  const pending = state.pendingExpunges(mailbox);
  const { uids, wentBack } = await pending.pending();
  // Put back from a backup since: those UIDs may name other mail now, which must never be expunged.
  await pending.forget(wentBack.map((record) => record.key));
  const forgotten = wentBack.map(
    (record) =>
      `an interrupted expunge in ${mailbox.path} was not finished: the mailbox went back (${record.reason}) ` +
      `since it was written down (${record.key}); the messages it named are matched afresh`,
  );
  if (uids.length === 0) return { finished: 0, forgotten };
  const still: number[] = [];
  // One SEARCH per chunk: a long, scattered record must not become a line the server refuses.
  for (const set of chunkUidSet(uids, session.profile.maxUidSetLength))
    still.push(...(await session.searchUids({ deleted: true, uid: set })));
  await session.expungeExactly(still);
  await pending.done();
  return { finished: still.length, forgotten };
}
