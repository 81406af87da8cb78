import type { FetchMessageObject, ImapSession } from '../../imap/session.ts';
import { MAX_TRAIL_MESSAGES, normalId } from '../message-id-trail.ts';
import type { MessageSample } from '../summary.ts';

/** How many messages a dry run shows, and a real run's history keeps, per rule. */
export const SAMPLE_SIZE = 5;

/**
 * A rule's sample (a dry run shows it, a real run's history keeps it), and, for a rule that moves messages, each
 * acted-on message's Message-ID: with them an undo can say where the user moved a message since. One FETCH of
 * envelopes (which carry the Message-ID): of the first few, or of all (up to 2,000) where Message-IDs are wanted.
 */
export async function sampleOf(
  session: ImapSession,
  uids: readonly number[],
  options: { readonly messageIds: boolean },
): Promise<{ sample: MessageSample[]; messageIds?: ReadonlyMap<number, string> }> {
  if (uids.length === 0) return { sample: [] };
  const all = options.messageIds && uids.length <= MAX_TRAIL_MESSAGES;
  const { messages } = await session.fetch(all ? uids : uids.slice(0, SAMPLE_SIZE), {
    envelope: true,
    internalDate: true,
  });
  const ordered = [...messages].sort((a, b) => a.uid - b.uid);
  return {
    sample: ordered.slice(0, SAMPLE_SIZE).map(sampleEntry),
    ...(all ? { messageIds: messageIdsOf(ordered) } : {}),
  };
}

function sampleEntry(message: FetchMessageObject): MessageSample {
  return {
    uid: message.uid,
    date: message.internalDate ? new Date(message.internalDate).toISOString() : undefined,
    from: message.envelope?.from?.map((a) => a.address ?? a.name ?? '').join(', '),
    subject: message.envelope?.subject,
  };
}

function messageIdsOf(messages: readonly FetchMessageObject[]): Map<number, string> {
  const ids = new Map<number, string>();
  for (const message of messages) {
    const id = message.envelope?.messageId;
    if (id) ids.set(message.uid, normalId(id));
  }
  return ids;
}
