import type { ActionHandler } from './types.ts';

/** `UID COPY`; a missing target mailbox is created, then the copy retried once. */
export const applyCopyTo: ActionHandler<string> = async (target, { session, uids, dryRun }) => {
  if (!dryRun && uids.length > 0) await session.copyMessages(uids, target);
  return { type: 'copyTo', target, count: uids.length, removesMessages: false };
};
