import { copyOnce } from './transfer.ts';
import type { ActionHandler } from './types.ts';

/** `UID COPY`, once per message (see copyOnce); a missing target mailbox is created, then the copy retried once. */
export const applyCopyTo: ActionHandler<string> = async (target, context) => {
  const { uids, dryRun } = context;
  if (!dryRun && uids.length > 0) await copyOnce(context, target);
  return { type: 'copyTo', target, count: uids.length, removesMessages: false };
};
