import type { SearchObject } from 'imapflow';
import { ImapActionError } from '../errors.ts';
import { toActionError } from './imap-errors.ts';
import type { SessionCore } from './session-core.ts';
import { expandUidSetAtMost } from './uid-set.ts';
import { MATCHES_NOTHING, withinBounds } from './within-bounds.ts';

/**
 * `UID SEARCH` in the selected mailbox; UIDs ascending. With `save`, on a server with SEARCHRES and ESEARCH,
 * the result is also kept on the server as `$` (`RETURN (SAVE ALL)`, RFC 5182), and later commands on exactly
 * these UIDs send `$`: one short line, whatever the number of matches. With `compact`, on a server with ESEARCH,
 * the result comes as ranges (`RETURN (ALL)`, RFC 4731): for large results a tenth of the time to read.
 * @throws ImapActionError
 */
export async function searchUids(
  core: SessionCore,
  query: SearchObject,
  options: { save?: boolean; compact?: boolean } = {},
): Promise<number[]> {
  const { client, wire } = core;
  wire.lastWarning = undefined;
  const save = options.save && core.profile.searchRes;
  const bounded = core.profile.within ? withinBounds(query, Date.now()) : query;
  if (bounded === MATCHES_NOTHING) {
    // Not sent: the server's `$` still names what it named, which is not this (empty) result.
    if (save) core.saved.forget();
    return [];
  }
  if (save || (options.compact && core.profile.capabilities.has('ESEARCH'))) {
    // SAVE is not among imapflow's typed return options, but it passes them through as written.
    const result = await client.search(bounded, {
      uid: true,
      returnOptions: (save ? ['SAVE', 'ALL'] : ['ALL']) as ['ALL'],
    });
    if (!result || Array.isArray(result)) throw toActionError('UID SEARCH', wire.lastWarning);
    // A result can name no more messages than the mailbox holds; a server claiming more is broken or hostile.
    const uids = result.all ? expandUidSetAtMost(result.all, client.mailbox ? client.mailbox.exists : 0) : [];
    if (!uids) throw new ImapActionError('UID SEARCH', { status: 'a result larger than the mailbox' });
    const sorted = uids.sort((a, b) => a - b);
    if (save) core.saved.remember(sorted);
    return [...sorted];
  }
  const result = await client.search(bounded, { uid: true });
  if (!result) throw toActionError('UID SEARCH', wire.lastWarning);
  return [...(result as number[])].sort((a, b) => a - b);
}
