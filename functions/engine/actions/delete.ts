import { MailsiftError } from '../../errors.ts';
import { messageIdTrail } from '../message-id-trail.ts';
import { expungeOnce, moveOnce, requireSafeRemoval } from '../transfer.ts';
import { defineAction } from './define.ts';
import type { ActionOutcome } from './types.ts';

/**
 * `trash`: move to the Trash mailbox (SPECIAL-USE \Trash, else "Trash"). `expunge`: remove for good; on Gmail
 * (X-GM-EXT-1), where mailboxes are labels and an expunge only takes the label off (the message stays in All Mail),
 * move to its Trash instead, which Gmail empties after 30 days; from that Trash itself, expunge.
 */
export const deleteMessages = defineAction({
  key: 'delete',
  schema: (kit) => kit.z.enum(['trash', 'expunge'], { error: 'expected trash or expunge' }),
  removesMessages: true,
  mayExpunge: (mode, server) => mode === 'expunge' || !server.hasMove,
  // On Gmail an expunge also goes to Trash.
  relocates: (mode, server) => mode === 'trash' || server.labels,
  preflight: (mode, server) => requireSafeRemoval(mode === 'expunge' ? 'expunge' : 'move', server),
  apply: async (mode, context): Promise<ActionOutcome> => {
    const { session, mailbox, uids, dryRun } = context;
    const labels = session.profile.labels;
    const trash = mode === 'trash' || labels ? await session.findTrash(!dryRun) : undefined;
    if (mode === 'expunge' && (trash === undefined || trash === mailbox.path)) {
      if (!dryRun && uids.length > 0) await expungeOnce(context, uids);
      return { type: 'delete', target: 'expunge', count: uids.length, record: { expunged: true } };
    }
    if (trash === undefined || trash === mailbox.path) {
      throw new MailsiftError(
        `delete: trash cannot apply to the Trash mailbox itself (${JSON.stringify(trash)}); use delete: expunge`,
      );
    }
    const trail = await messageIdTrail(context, trash);
    const copied = !dryRun && uids.length > 0 ? await moveOnce(context, trash) : undefined;
    return {
      type: 'delete',
      target: trash,
      count: uids.length,
      record: { to: { mailbox: trash, copied, trail } },
    };
  },
});
