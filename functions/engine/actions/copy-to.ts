import { messageIdTrail } from '../message-id-trail.ts';
import { copyOnce } from '../transfer.ts';
import { defineAction } from './define.ts';
import type { ActionOutcome } from './types.ts';

/** `UID COPY`, once per message (see copyOnce); a missing target mailbox is created, then the copy retried once. */
export const copyTo = defineAction({
  key: 'copyTo',
  schema: (kit) => kit.mailboxName,
  removesMessages: false,
  preflight: (target, server) => server.assertNameable(target),
  apply: async (target, context): Promise<ActionOutcome> => {
    const { uids, dryRun } = context;
    const trail = await messageIdTrail(context, target);
    const copied = !dryRun && uids.length > 0 ? await copyOnce(context, target) : undefined;
    return { type: 'copyTo', target, count: uids.length, record: { to: { mailbox: target, copied, trail } } };
  },
});
