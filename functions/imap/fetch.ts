import type { FetchMessageObject, FetchQueryObject } from 'imapflow';
import { toActionError } from './imap-errors.ts';
import type { SessionCore } from './session-core.ts';
import { chunkUidSet } from './uid-set.ts';

/**
 * `UID FETCH` of just `items` for `uids`, chunked. Collected into an array before returning: issuing a
 * command while imapflow's fetch iterator is open deadlocks the connection. `unreadable` lists the UIDs
 * the server returned nothing usable for: expunged meanwhile, or a response imapflow refuses to parse (it
 * drops, without a word, a BODYSTRUCTURE nested deeper than 25 levels).
 */
export async function fetchMessages(
  core: SessionCore,
  uids: readonly number[],
  items: FetchQueryObject,
): Promise<{ messages: FetchMessageObject[]; unreadable: number[] }> {
  const messages: FetchMessageObject[] = [];
  for (const set of chunkUidSet(uids, core.profile.maxUidSetLength)) {
    try {
      messages.push(...(await core.client.fetchAll(set, { ...items, uid: true }, { uid: true })));
    } catch (error) {
      throw toActionError('UID FETCH', error);
    }
  }
  const returned = new Set(messages.map((message) => message.uid));
  return { messages, unreadable: uids.filter((uid) => !returned.has(uid)) };
}

/**
 * `UID FETCH from:*` of `items`: the messages that arrived since a mailbox's UIDNEXT was `from`. (`n:*` names
 * the last message even when its UID is below `n`, RFC 3501 §6.4.8; that one is left out.)
 */
export async function fetchFrom(
  core: SessionCore,
  from: number,
  items: FetchQueryObject,
): Promise<FetchMessageObject[]> {
  const { client } = core;
  if (!client.mailbox || client.mailbox.exists === 0) return [];
  try {
    const messages = await client.fetchAll(`${from}:*`, { ...items, uid: true }, { uid: true });
    return messages.filter((message) => message.uid >= from);
  } catch (error) {
    throw toActionError('UID FETCH', error);
  }
}

/** `FETCH 1:*` of `items` in the selected mailbox: only for small mailboxes of our own (not chunked). */
export async function fetchEvery(core: SessionCore, items: FetchQueryObject): Promise<FetchMessageObject[]> {
  const { client } = core;
  if (!client.mailbox || client.mailbox.exists === 0) return [];
  try {
    return await client.fetchAll('1:*', { ...items, uid: true });
  } catch (error) {
    throw toActionError('FETCH', error);
  }
}
