import { CapabilityError } from '../errors.ts';
import { execChecked, sequence } from './exec.ts';
import type { SessionCore } from './session-core.ts';
import { storeFlags } from './store.ts';
import { chunkUidSet } from './uid-set.ts';

/**
 * `UID EXPUNGE` (RFC 4315 §2.1) of exactly `uids`, which the caller marked `\Deleted`: never other messages
 * marked `\Deleted`, as a plain EXPUNGE would.
 * @throws CapabilityError without UIDPLUS.
 */
export async function expungeExactly(core: SessionCore, uids: readonly number[]): Promise<void> {
  if (uids.length === 0) return;
  if (!core.profile.uidPlus) {
    throw new CapabilityError(
      'cannot expunge safely: the server offers neither MOVE nor UIDPLUS, and a plain EXPUNGE would also ' +
        'remove messages that other clients marked \\Deleted',
    );
  }
  for (const set of core.saved.uidSets(uids)) {
    core.modseqSeen.noteCode(await execChecked(core.client, 'UID EXPUNGE', [sequence(set)]));
  }
  core.saved.forget(); // the expunged messages left `$`
}

/**
 * Deletes `uids` from the selected mailbox, which must hold only messages of ours: without UIDPLUS the plain
 * EXPUNGE removes every `\Deleted` message in it.
 */
export async function removeOwnMessages(core: SessionCore, uids: readonly number[]): Promise<void> {
  if (uids.length === 0) return;
  await storeFlags(core, uids, 'add', ['\\Deleted']);
  if (core.profile.uidPlus) {
    for (const set of chunkUidSet(uids, core.profile.maxUidSetLength))
      await execChecked(core.client, 'UID EXPUNGE', [sequence(set)]);
  } else {
    await execChecked(core.client, 'EXPUNGE', []);
  }
  core.saved.forget();
}
