import type { ImapSession } from '../imap/session.ts';

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
