import { moveOnce } from './transfer.ts';
import type { ActionHandler } from './types.ts';

/** MOVE, or COPY + `UID EXPUNGE` of exactly these UIDs; refuses servers where neither is safe. */
export const applyMoveTo: ActionHandler<string> = async (target, context) => {
  const { session, mailbox, uids, dryRun } = context;
  if (target === mailbox.path) {
    // Moving a mailbox onto itself would expunge the originals after copying them back in.
    return { type: 'moveTo', target, count: 0, removesMessages: false };
  }
  session.assertCanRemove('move');
  if (!dryRun && uids.length > 0) await moveOnce(context, target);
  return { type: 'moveTo', target, count: uids.length, removesMessages: true };
};
