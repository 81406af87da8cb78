import { CapabilityError } from '../errors.ts';
import { atom, execChecked, type ParsedResponse, sequence } from './exec.ts';
import type { SessionCore } from './session-core.ts';

/** Whether the selected mailbox keeps `flag` (PERMANENTFLAGS lists it, or `\*` for any keyword, RFC 3501 §7.1). */
export function canStore(core: SessionCore, flag: string): boolean {
  const permanent = core.client.mailbox ? core.client.mailbox.permanentFlags : undefined;
  return Boolean(permanent && (permanent.has('\\*') || permanent.has(flag)));
}

/**
 * With CONDSTORE enabled, the server answers even a .SILENT STORE with a FETCH of each message's new MODSEQ (RFC
 * 7162 §3.1.3): thousands of lines that imapflow would turn into message updates nobody reads. A run learns what
 * changed from its next SEARCH, not from these; only the highest MODSEQ is kept (modseq-seen.ts).
 */
const modseqOnly = (core: SessionCore) => async (line: ParsedResponse) => core.modseqSeen.noteFetch(line);

/**
 * `UID STORE ±FLAGS.SILENT`, chunked (or `$`). Refuses to add flags the mailbox cannot keep: imapflow would
 * silently drop them and report success.
 * @throws CapabilityError, ImapActionError
 */
export async function storeFlags(
  core: SessionCore,
  uids: readonly number[],
  mode: 'add' | 'remove',
  flags: readonly string[],
): Promise<void> {
  if (mode === 'add') assertCanStore(core, flags);
  const operation = mode === 'add' ? '+FLAGS.SILENT' : '-FLAGS.SILENT';
  for (const set of core.saved.uidSets(uids)) {
    await execChecked(core.client, 'UID STORE', [sequence(set), atom(operation), flags.map(atom)], {
      untagged: { FETCH: modseqOnly(core) },
    });
  }
}

function assertCanStore(core: SessionCore, flags: readonly string[]): void {
  const mailbox = core.client.mailbox;
  if (!mailbox) return;
  const unstorable = flags.filter((flag) => !canStore(core, flag));
  if (unstorable.length > 0) {
    throw new CapabilityError(
      `mailbox ${JSON.stringify(mailbox.path)} cannot store ${unstorable.join(', ')} ` +
        `(its PERMANENTFLAGS are ${[...(mailbox.permanentFlags ?? [])].join(' ') || 'empty'})`,
    );
  }
}
