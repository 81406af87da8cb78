import type { ImapSession } from '../imap/session.ts';
import type { JournalAction, JournalRule } from '../state/run-journal.ts';
import { line, type Undoing } from './undo-kit.ts';

/** Message-IDs asked for in one SEARCH (an OR of HEADER keys: RFC 3501 §6.4.4). */
const IDS_PER_SEARCH = 20;

/**
 * Where messages a run moved are now, found by their Message-IDs in every other mailbox (EXAMINE, a SEARCH per 20
 * ids, a FETCH of the envelopes found): mailbox → how many. For the undo's report only: a message the user moved
 * on since stays where the user put it.
 */
export async function foundElsewhere(
  session: ImapSession,
  messageIds: readonly string[],
  except: string,
): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const left = new Set(messageIds);
  for (const mailbox of await session.mailboxNames()) {
    if (left.size === 0) break;
    if (mailbox === except) continue;
    await session.openMailbox(mailbox, true);
    const ids = [...left];
    for (let start = 0; start < ids.length; start += IDS_PER_SEARCH) {
      const keys = ids.slice(start, start + IDS_PER_SEARCH).map((id) => ({ header: { 'message-id': id } }));
      const uids = await session.searchUids(
        keys.length === 1 ? (keys[0] as (typeof keys)[number]) : { or: keys },
      );
      if (uids.length === 0) continue;
      const { messages } = await session.fetch(uids, { envelope: true });
      for (const message of messages) {
        const id = message.envelope?.messageId;
        if (id && left.delete(id)) found.set(mailbox, (found.get(mailbox) ?? 0) + 1);
      }
    }
  }
  return found;
}

/**
 * Says what became of the messages (by their place in the action's UIDs) no longer where the run put them: moved
 * on by the user (found by Message-ID elsewhere, and left there), or expunged; without Message-IDs, either.
 */
export async function reportGone(
  undoing: Undoing,
  rule: JournalRule,
  action: JournalAction,
  gone: readonly number[],
): Promise<void> {
  const to = action.to as NonNullable<JournalAction['to']>;
  const ids = gone.map((index) => to.messageIds?.[index]).filter((id): id is string => Boolean(id));
  if (!to.messageIds || ids.length < gone.length) {
    const unknown = gone.length - (to.messageIds ? ids.length : 0);
    undoing.report.notUndone.push(
      line(rule, action, `no longer in ${to.mailbox} (moved elsewhere or expunged since)`, unknown),
    );
    if (!to.messageIds) return;
  }
  const found = await foundElsewhere(undoing.session, ids, to.mailbox);
  for (const [mailbox, count] of found)
    undoing.report.notUndone.push(
      line(rule, action, `moved to ${mailbox} since (found by Message-ID): left there`, count),
    );
  const lost = ids.length - [...found.values()].reduce((sum, count) => sum + count, 0);
  if (lost > 0)
    undoing.report.notUndone.push(
      line(
        rule,
        action,
        `no longer in ${to.mailbox}, nor anywhere else by its Message-ID (expunged since)`,
        lost,
      ),
    );
}
