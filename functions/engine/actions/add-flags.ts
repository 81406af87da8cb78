import { CapabilityError } from '../../errors.ts';
import { flagsThatChange } from '../flag-changes.ts';
import { defineAction } from './define.ts';

/** `UID STORE +FLAGS.SILENT`: adds system flags and keywords; idempotent, so a rerun changes nothing. */
export const addFlags = defineAction({
  key: 'addFlags',
  schema: (kit) =>
    kit.z.array(kit.flag, { error: 'expected a list of flags' }).min(1, 'expected at least one flag'),
  removesMessages: false,
  describe: (flags) => `addFlags ${flags.join(' ')}`,
  // imapflow would drop a keyword the mailbox cannot keep and report success; refuse before anything changes.
  preflight: (flags, server) => {
    const unstorable = flags.filter((flag) => !server.canStore(flag));
    if (unstorable.length === 0) return;
    throw new CapabilityError(
      `mailbox ${JSON.stringify(server.mailbox)} cannot store ${unstorable.join(', ')} ` +
        `(its PERMANENTFLAGS are ${server.permanentFlags.join(' ') || 'empty'}); nothing was changed`,
    );
  },
  flagChange: (flags) => ({ add: flags, remove: [] }),
  apply: async (flags, { session, uids, dryRun, recording, onlyAction }) => {
    if (dryRun || uids.length === 0) return { type: 'addFlags', target: flags.join(' '), count: uids.length };
    // Which messages lacked each flag, asked first: an undo takes off only what this action put on.
    const changed = recording
      ? await flagsThatChange(session, uids, flags, 'add', onlyAction === true)
      : undefined;
    await session.storeFlags(uids, 'add', flags);
    return { type: 'addFlags', target: flags.join(' '), count: uids.length, record: { changed } };
  },
});
