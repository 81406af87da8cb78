import { messageIdTrail } from '../message-id-trail.ts';
import { moveOnce, requireSafeRemoval } from '../transfer.ts';
import { defineAction } from './define.ts';
import type { ActionOutcome } from './types.ts';

/** MOVE, or COPY + `UID EXPUNGE` of exactly these UIDs; refuses servers where neither is safe. */
export const moveTo = defineAction({
  key: 'moveTo',
  schema: (kit) => kit.mailboxName,
  removesMessages: true,
  mayExpunge: (_target, server) => !server.hasMove,
  relocates: () => true,
  preflight: (target, server) => {
    server.assertNameable(target);
    requireSafeRemoval('move', server);
  },
  apply: async (target, context): Promise<ActionOutcome> => {
    const { mailbox, uids, dryRun } = context;
    // Moving a mailbox onto itself would expunge the originals after copying them back in.
    if (target === mailbox.path) return { type: 'moveTo', target, count: 0, removesMessages: false };
    const trail = await messageIdTrail(context, target);
    const copied = !dryRun && uids.length > 0 ? await moveOnce(context, target) : undefined;
    return { type: 'moveTo', target, count: uids.length, record: { to: { mailbox: target, copied, trail } } };
  },
});
