import type { ActionHandler } from './types.ts';

/** `UID STORE -FLAGS.SILENT`: removes system flags and keywords. */
export const applyRemoveFlags: ActionHandler<readonly string[]> = async (
  flags,
  { session, uids, dryRun },
) => {
  if (!dryRun && uids.length > 0) await session.storeFlags(uids, 'remove', flags);
  return { type: 'removeFlags', target: flags.join(' '), count: uids.length, removesMessages: false };
};
