import type { FetchMessageObject, ImapSession } from '../imap/session.ts';
import type { ActionContext } from './actions/types.ts';

/**
 * Without UIDPLUS a COPY or MOVE names no new UIDs (no COPYUID, RFC 4315 §3), so an undo could not tell the run's
 * messages from others in the target. What lets it find them anyway: the target's UIDNEXT before the transfer
 * (the run's messages arrive from there on) and each message's Message-ID, in the order of the UIDs.
 */
export interface MessageIdTrail {
  readonly uidNext: number;
  readonly uidValidity?: string;
  /** Per source UID, ascending; null for a message without a Message-ID (it cannot be found again). */
  readonly messageIds: readonly (string | null)[];
}

/** More than this many messages would pass the journal entry's size limit anyway: no trail, undo says so. */
export const MAX_TRAIL_MESSAGES = 2_000;

/**
 * The trail of a real, recorded transfer on a server without UIDPLUS, taken before it (one STATUS, one FETCH of
 * the Message-ID header); nothing on servers with UIDPLUS, where COPYUID says it all.
 */
export async function messageIdTrail(
  context: ActionContext,
  target: string,
): Promise<MessageIdTrail | undefined> {
  if (!context.recording || context.dryRun) return undefined;
  return await trailOf(context.session, context.uids, target, context.messageIds);
}

/** The trail of moving or copying `uids` of the selected mailbox to `target`, where the server has no UIDPLUS. */
export async function trailOf(
  session: ImapSession,
  uids: readonly number[],
  target: string,
  /** Message-IDs read already (the rule's sample): no second FETCH where they cover every UID. */
  known?: ReadonlyMap<number, string>,
): Promise<MessageIdTrail | undefined> {
  if (session.profile.uidPlus || uids.length === 0 || uids.length > MAX_TRAIL_MESSAGES) return undefined;
  const status = await session.mailboxStatus(target);
  const byUid: ReadonlyMap<number, string | undefined> =
    known && uids.every((uid) => known.has(uid)) ? known : await fetchMessageIds(session, uids);
  return {
    // A target created by this transfer (TRYCREATE) starts at 1.
    uidNext: status?.uidNext ?? 1,
    ...(status ? { uidValidity: status.uidValidity.toString() } : {}),
    messageIds: [...uids].sort((a, b) => a - b).map((uid) => byUid.get(uid) ?? null),
  };
}

/** UID → Message-ID of `uids` in the selected mailbox (one FETCH of the header); absent UIDs are left out. */
export async function fetchMessageIds(session: ImapSession, uids: readonly number[]) {
  const { messages } = await session.fetch(uids, { headers: ['message-id'] });
  return new Map(messages.map((message) => [message.uid, messageIdOf(message)]));
}

/** The Message-ID of a message fetched with `headers: ['message-id']`, unfolded; undefined without one. */
export function messageIdOf(message: FetchMessageObject): string | undefined {
  const text = message.headers?.toString('latin1').replace(/\r?\n[ \t]+/g, ' ') ?? '';
  const value = /^message-id:[ \t]*(.+)$/im.exec(text)?.[1];
  return value === undefined ? undefined : normalId(value);
}

/**
 * `<a@b>` out of a Message-ID however it was read (header or envelope, with comments or folding): every
 * Message-ID the history keeps and every one it is compared with goes through here.
 */
export function normalId(id: string): string {
  return /<[^<>\s]+>/.exec(id)?.[0] ?? id.trim();
}
