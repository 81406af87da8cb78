import type { ImapSession, SearchObject } from '../imap/session.ts';

const SYSTEM_KEYS: Readonly<Record<string, 'seen' | 'flagged' | 'answered' | 'draft' | 'deleted'>> = {
  '\\seen': 'seen',
  '\\flagged': 'flagged',
  '\\answered': 'answered',
  '\\draft': 'draft',
  '\\deleted': 'deleted',
};

/** The SEARCH key for "carries `flag`" (`present`) or "lacks it". */
function carrying(flag: string, present: boolean): SearchObject {
  const system = SYSTEM_KEYS[flag.toLowerCase()];
  if (system) return { [system]: present };
  return present ? { keyword: flag } : { unKeyword: flag };
}

/**
 * Per flag, those of `uids` a STORE of `flags` in `mode` will really change: for `add` the ones lacking the flag,
 * for `remove` the ones carrying it. One index-only SEARCH per flag (per UID-set chunk where `$` cannot name
 * them), sent before the STORE,
 * so that an undo restores exactly what was there: a flag a message had already stays.
 */
export async function flagsThatChange(
  session: ImapSession,
  uids: readonly number[],
  flags: readonly string[],
  mode: 'add' | 'remove',
  onlyAction: boolean,
): Promise<Record<string, number[]>> {
  // A rule whose one action sets (or clears) this one flag acts only on messages it changes (flag-no-ops.ts
  // leaves the others out): no need to ask.
  const [only] = flags;
  if (flags.length === 1 && only !== undefined && onlyAction) {
    return { [only]: [...uids] };
  }
  const changed: Record<string, number[]> = {};
  for (const flag of flags) {
    const found: number[] = [];
    // `$` where the rule's SEARCH saved exactly these (RFC 5182 §2.1: SEARCH takes `$` as a UID set too).
    for (const set of session.uidSets(uids)) {
      // As ranges where the server can (ESEARCH): 50,000 UIDs read in a tenth of the time.
      found.push(
        ...(await session.searchUids({ uid: set, ...carrying(flag, mode === 'remove') }, { compact: true })),
      );
    }
    if (found.length > 0) changed[flag] = found;
  }
  return changed;
}
