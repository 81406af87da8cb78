import { MailboxNotFoundError } from '../errors.ts';
import type { ImapSession } from '../imap/session.ts';
import { type JournalAction, type JournalRule, journalSet } from '../state/run-journal.ts';

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
 * name other messages now. Returns why not, or undefined.
 */
export async function sameMailbox(
  undoing: Pick<Undoing, 'session' | 'dryRun'>,
  mailbox: string,
  uidValidity: string | undefined,
): Promise<string | undefined> {
  try {
    const opened = await undoing.session.openMailbox(mailbox, undoing.dryRun);
    if (uidValidity !== undefined && opened.uidValidity.toString() !== uidValidity) {
      return `${mailbox} was deleted and created again since (its UIDVALIDITY changed)`;
    }
    return undefined;
  } catch (error) {
    if (error instanceof MailboxNotFoundError) return `${mailbox} no longer exists`;
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
