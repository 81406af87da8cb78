import { ImapActionError } from '../errors.ts';
import { atom, execChecked, type ParsedResponse, sequence } from './exec.ts';
import { createMailbox, encoded } from './mailbox.ts';
import type { SessionCore } from './session-core.ts';
import { expandUidSet } from './uid-set.ts';

/** Where copied or moved messages went (COPYUID, RFC 4315 §3): the target's UIDVALIDITY and source → new UID. */
export interface CopiedUids {
  readonly uidValidity: bigint;
  readonly uids: ReadonlyMap<number, number>;
}

/**
 * `UID COPY` or `UID MOVE` (RFC 6851) of `uids` to `destination`, creating it once on [TRYCREATE]. Returns the
 * COPYUID mapping where the server sent one for every chunk (UIDPLUS): in the tagged OK for COPY, in an untagged
 * OK before the expunges for MOVE (RFC 6851 §4.3).
 */
export async function transferMessages(
  core: SessionCore,
  command: 'UID COPY' | 'UID MOVE',
  uids: readonly number[],
  destination: string,
): Promise<CopiedUids | undefined> {
  const mapped = new Map<number, number>();
  let uidValidity: bigint | undefined;
  let complete = true;
  for (const set of core.saved.uidSets(uids)) {
    const attributes = [sequence(set), atom(encoded(core, destination))];
    let found: CopiedUids | undefined;
    const untagged = { untagged: { OK: async (line: ParsedResponse) => (found ??= copyUidOf(line)) } };
    await creatingOnTryCreate(core, destination, {}, async () => {
      const tagged = await execChecked(core.client, command, attributes, untagged);
      found ??= copyUidOf(tagged);
      if (command === 'UID MOVE') core.modseqSeen.noteCode(tagged);
    });
    if (!found) complete = false;
    else {
      uidValidity = found.uidValidity;
      for (const [from, to] of found.uids) mapped.set(from, to);
    }
  }
  if (command === 'UID MOVE') core.saved.forget(); // the moved messages left `$`
  return complete && uidValidity !== undefined ? { uidValidity, uids: mapped } : undefined;
}

/** `[COPYUID uidvalidity source-set destination-set]` of a response, where it has one of matching sizes. */
function copyUidOf(response: ParsedResponse): CopiedUids | undefined {
  const first = response.attributes?.[0] as { section?: { value?: unknown }[] } | undefined;
  const section = first?.section;
  if (!section || String(section[0]?.value ?? '').toUpperCase() !== 'COPYUID') return undefined;
  const validity = String(section[1]?.value ?? '');
  if (!/^\d{1,20}$/.test(validity)) return undefined;
  const from = expandUidSet(String(section[2]?.value ?? ''));
  const to = expandUidSet(String(section[3]?.value ?? ''));
  if (from.length === 0 || from.length !== to.length) return undefined;
  return { uidValidity: BigInt(validity), uids: new Map(from.map((uid, i) => [uid, to[i] as number])) };
}

/**
 * Runs `attempt`; when the server answers [TRYCREATE], the target does not exist and may be created
 * (RFC 3501 §6.3.11 APPEND, §6.4.7 COPY): creates `path` and tries once more.
 */
export async function creatingOnTryCreate(
  core: SessionCore,
  path: string,
  create: { subscribe?: boolean },
  attempt: () => Promise<void>,
): Promise<void> {
  try {
    await attempt();
  } catch (error) {
    if (!(error instanceof ImapActionError) || error.responseCode !== 'TRYCREATE') throw error;
    await createMailbox(core, path, create);
    await attempt();
  }
}
