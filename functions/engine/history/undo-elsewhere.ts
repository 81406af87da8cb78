import { ImapConnectError } from '../../errors.ts';
import type { ImapSession } from '../../imap/session.ts';
import type { JournalAction, JournalRule } from '../../state/run-journal.ts';
import { normalId } from '../message-id-trail.ts';
import { line, type Undoing } from './undo-kit.ts';

/** Message-IDs asked for in one SEARCH (an OR of HEADER keys: RFC 3501 §6.4.4). */
const IDS_PER_SEARCH = 20;

/** At most this many SEARCHes for one action: HEADER searches are scans, and this is for the report only. */
const MAX_SEARCHES = 200;

/**
 * Where messages a run moved are now, found by their Message-IDs in every other mailbox (EXAMINE, a SEARCH per 20
 * ids, a FETCH of the envelopes found): mailbox → how many. For the undo's report only: a message the user moved
 * on since stays where the user put it. Undefined where it cannot say: on a label server (every message is in All
 * Mail), past MAX_SEARCHES, or when the server refuses (a mailbox it lists but will not open is skipped).
 */
export async function foundElsewhere(
  session: ImapSession,
  messageIds: readonly string[],
  except: string,
): Promise<Map<string, number> | undefined> {
  if (session.profile.labels) return undefined;
  const found = new Map<string, number>();
  const left = new Set(messageIds.map(normalId));
  const mailboxes = (await session.mailboxNames()).filter((mailbox) => mailbox !== except);
  if (mailboxes.length * Math.ceil(left.size / IDS_PER_SEARCH) > MAX_SEARCHES) return undefined;
  for (const mailbox of mailboxes) {
    if (left.size === 0) break;
    try {
      await session.openMailbox(mailbox, true);
    } catch {
      continue; // listed, but not one this account may open (a shared namespace, a \Noselect the LIST hid)
    }
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
        if (id && left.delete(normalId(id))) found.set(mailbox, (found.get(mailbox) ?? 0) + 1);
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
  // For the report only: whatever goes wrong looking (a refused SEARCH, a lost mailbox) must not end the undo.
  const found = await foundElsewhere(undoing.session, ids, to.mailbox).catch((error: unknown) => {
    if (error instanceof ImapConnectError) throw error;
    return undefined;
  });
  if (!found) {
    undoing.report.notUndone.push(
      line(rule, action, `no longer in ${to.mailbox} (moved elsewhere or expunged since)`, ids.length),
    );
    return;
  }
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
