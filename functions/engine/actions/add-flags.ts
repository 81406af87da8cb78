import type { ActionHandler } from './types.ts';

/** `UID STORE +FLAGS.SILENT`: adds system flags and keywords; idempotent, so a rerun changes nothing. */
export const applyAddFlags: ActionHandler<readonly string[]> = async (flags, { session, uids, dryRun }) => {
  if (!dryRun && uids.length > 0) await session.storeFlags(uids, 'add', flags);
  return { type: 'addFlags', target: flags.join(' '), count: uids.length, removesMessages: false };
};
