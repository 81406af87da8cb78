import { flagsThatChange } from '../flag-changes.ts';
import { defineAction } from './define.ts';

/** `UID STORE -FLAGS.SILENT`: removes system flags and keywords. */
export const removeFlags = defineAction({
  key: 'removeFlags',
  schema: (kit) =>
    kit.z.array(kit.flag, { error: 'expected a list of flags' }).min(1, 'expected at least one flag'),
  removesMessages: false,
  describe: (flags) => `removeFlags ${flags.join(' ')}`,
  flagChange: (flags) => ({ add: [], remove: flags }),
  apply: async (flags, { session, uids, dryRun, recording, onlyAction }) => {
    if (dryRun || uids.length === 0)
      return { type: 'removeFlags', target: flags.join(' '), count: uids.length };
    const changed = recording
      ? await flagsThatChange(session, uids, flags, 'remove', onlyAction === true)
      : undefined;
    await session.storeFlags(uids, 'remove', flags);
    return { type: 'removeFlags', target: flags.join(' '), count: uids.length, record: { changed } };
  },
});
