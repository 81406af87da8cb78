import { ImapActionError } from '../errors.ts';
import { atom, execChecked, sequence } from './exec.ts';
import { createMailbox, encoded } from './mailbox.ts';
import type { SessionCore } from './session-core.ts';

/** `UID COPY` or `UID MOVE` (RFC 6851) of `uids` to `destination`, creating it once on [TRYCREATE]. */
export async function transferMessages(
  core: SessionCore,
  command: 'UID COPY' | 'UID MOVE',
  uids: readonly number[],
  destination: string,
): Promise<void> {
  for (const set of core.saved.uidSets(uids)) {
    const attributes = [sequence(set), atom(encoded(core, destination))];
    await creatingOnTryCreate(core, destination, {}, () => execChecked(core.client, command, attributes));
  }
  if (command === 'UID MOVE') core.saved.forget(); // the moved messages left `$`
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
