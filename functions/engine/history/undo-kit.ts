import { MailboxNotFoundError } from '../../errors.ts';
import type { ImapSession, MailboxInfo } from '../../imap/session.ts';
import { uidPastUidNext } from '../../state/mailbox-watermark.ts';
import { type JournalAction, type JournalRule, journalSet } from '../../state/run-journal.ts';
import type { AccountState } from '../account-state.ts';
import { fetchMessageIds } from '../message-id-trail.ts';

/** What the steps of an undo (undo.ts, undo-flags.ts) share. One line of its report: */
export interface UndoLine {
  readonly rule: string;
  readonly action: string;
  readonly count: number;
  readonly why?: string;
}

/** What every step of one undo works with: the session, the report, the undo's own record, the run's moves. */
export interface Undoing {
  readonly session: ImapSession;
  readonly dryRun: boolean;
  /** The run being undone (its id names the undo's copy journal, the same for every rerun of it). */
  readonly undoOf: string;
  /** The account's state under the undo's lease: copy journal and pending expunges for moves back without MOVE. */
  readonly state: AccountState;
  /**
   * Per mailbox, messages this undo moved back into it (a later move of the run taken back): their UID there before
   * that move → their UID now, so that an earlier move of the run that put them there finds them. A dry run, which
   * moves nothing, notes `'would'`.
   */
  readonly renumbered: Map<string, Map<number, number | 'would'>>;
  readonly report: { restored: UndoLine[]; notUndone: UndoLine[] };
  /** What the undo itself changed, for its own journal entry. */
  readonly journal: JournalRule[];
  /** The run's moves, in order, for finding where a message it flagged is now. */
  readonly moves: readonly RunMove[];
}

/** One move (or delete to Trash) of the run: from where, to where, and each message's new UID (COPYUID). */
export interface RunMove {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly toValidity?: string;
  readonly uids: ReadonlyMap<number, number>;
}

export function line(rule: JournalRule, action: JournalAction, why?: string, count = action.count): UndoLine {
  return {
    rule: rule.name,
    action: action.target ? `${action.type} ${action.target}` : action.type,
    count,
    ...(why ? { why } : {}),
  };
}

/**
 * Opens `mailbox` and checks it is the one the run changed: same UIDVALIDITY (RFC 3501 §2.3.1.1), else the UIDs
 * name other messages now; and not put back from a backup since: every UID the run knew there (`knownUids`)
 * stays below UIDNEXT for ever, unless the mailbox went back. Returns why not, or undefined.
 */
export async function sameMailbox(
  undoing: Pick<Undoing, 'session' | 'dryRun'>,
  mailbox: string,
  uidValidity: string | undefined,
  knownUids: readonly number[] = [],
): Promise<string | undefined> {
  const opened = await openSame(undoing, mailbox, uidValidity, knownUids);
  return 'why' in opened ? opened.why : undefined;
}

/** As sameMailbox, with the opened mailbox where it is the same. */
export async function openSame(
  undoing: Pick<Undoing, 'session' | 'dryRun'>,
  mailbox: string,
  uidValidity: string | undefined,
  knownUids: readonly number[] = [],
): Promise<{ info: MailboxInfo } | { why: string }> {
  try {
    const info = await undoing.session.openMailbox(mailbox, undoing.dryRun);
    if (uidValidity !== undefined && info.uidValidity.toString() !== uidValidity) {
      return { why: `${mailbox} was deleted and created again since (its UIDVALIDITY changed)` };
    }
    const highest = uidPastUidNext(knownUids, info.uidNext);
    if (highest !== undefined) {
      return {
        why:
          `${mailbox} went back since the run (UIDNEXT ${info.uidNext} <= UID ${highest} the run knew there: ` +
          'restored from a backup?), so its UIDs may name other messages now',
      };
    }
    return { info };
  } catch (error) {
    if (error instanceof MailboxNotFoundError) return { why: `${mailbox} no longer exists` };
    throw error;
  }
}

/** Of `uids`, those still in the selected mailbox (and, unless `andDeleted`, not marked \Deleted). */
export async function stillThere(
  session: ImapSession,
  uids: readonly number[],
  andDeleted = false,
): Promise<number[]> {
  if (uids.length === 0) return [];
  return await session.searchUids({ uid: journalSet(uids), ...(andDeleted ? {} : { deleted: false }) });
}

/**
 * Of the UIDs in `expected` (selected mailbox), those holding another message than the run put there: a
 * Message-ID other than the one the history kept. After a restore from a backup, new mail is given the UIDs
 * again, which UIDNEXT alone cannot tell once as much has arrived. UIDs kept without a Message-ID are believed.
 */
export async function otherMessagesAt(
  session: ImapSession,
  expected: ReadonlyMap<number, string>,
): Promise<Set<number>> {
  if (expected.size === 0) return new Set();
  const found = await fetchMessageIds(session, [...expected.keys()]);
  return new Set([...expected].filter(([uid, id]) => found.get(uid) !== id).map(([uid]) => uid));
}
