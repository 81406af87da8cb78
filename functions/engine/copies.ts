import { MailboxNotFoundError, MailsiftError } from '../errors.ts';
import type { FetchMessageObject, ImapSession } from '../imap/session.ts';
import { type CopyJournal, type CopyScope, type JournalEntry, matchCopies } from '../state/copy-journal.ts';

/** The headers that, with INTERNALDATE and RFC822.SIZE, tell a copy by its original: COPY keeps all three. */
const IDENTITY_HEADERS = ['message-id', 'date', 'from', 'subject'];

/**
 * Of `uids` (about to be copied to `scope.target`), those that an interrupted earlier run of this rule already
 * copied there, found by the copy journal: the caller must not copy them again. Costs nothing unless an earlier
 * entry names some of `uids`; then it reads the source and the target (from the entry's UIDNEXT on) and SELECTs
 * the source again.
 */
export async function alreadyCopied(
  session: ImapSession,
  journal: CopyJournal,
  scope: CopyScope,
  uids: readonly number[],
): Promise<Set<number>> {
  const copied = new Set<number>();
  const acting = new Set(uids);
  // Each copy stands for one original, across entries too: two identical originals need two copies.
  const claimed = new Set<number>();
  for (const entry of await journal.earlierEntries(scope, uids)) {
    const candidates = entry.uids.filter((uid) => acting.has(uid) && !copied.has(uid));
    if (candidates.length === 0) continue;
    const { messages: originals } = await session.fetch(candidates, IDENTITY_QUERY);
    const copies = await copiesSince(session, entry, scope);
    for (const uid of matchCopies(originals, copies, identityOf, claimed)) copied.add(uid);
  }
  return copied;
}

/** Writes down, before the COPY, that `uids` go to `scope.target`, with the target's UIDNEXT (one STATUS). */
export async function recordCopy(
  session: ImapSession,
  journal: CopyJournal,
  scope: CopyScope,
  uids: readonly number[],
): Promise<void> {
  await journal.record(scope, uids, await session.mailboxStatus(scope.target));
}

const IDENTITY_QUERY = { internalDate: true, size: true, headers: IDENTITY_HEADERS } as const;

/** COPY keeps a message's bytes, flags and INTERNALDATE (RFC 3501 §6.4.7): a copy has its original's identity. */
function identityOf(message: FetchMessageObject): string {
  const date = message.internalDate ? new Date(message.internalDate).toISOString() : '';
  return `${date}\u0000${message.size ?? ''}\u0000${message.headers?.toString('latin1') ?? ''}`;
}

/** The messages in the target that arrived since the entry was written (none if it was recreated). */
async function copiesSince(
  session: ImapSession,
  entry: JournalEntry,
  scope: CopyScope,
): Promise<FetchMessageObject[]> {
  let copies: FetchMessageObject[] = [];
  try {
    const target = await session.openMailbox(scope.target, true);
    if (!entry.targetValidity || entry.targetValidity === target.uidValidity.toString()) {
      copies = await session.fetchFrom(entry.targetUidNext, IDENTITY_QUERY);
    }
  } catch (error) {
    if (!(error instanceof MailboxNotFoundError)) throw error;
  }
  const source = await session.openMailbox(scope.source.path, false);
  if (source.uidValidity !== scope.source.uidValidity) {
    throw new MailsiftError(
      `mailbox ${JSON.stringify(scope.source.path)} was renumbered (UIDVALIDITY changed) during the run; ` +
        'nothing was copied, the next run starts afresh',
    );
  }
  return copies;
}
