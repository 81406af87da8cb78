import { MailsiftError } from '../../errors.ts';
import { expungeOnce, moveOnce, requireSafeRemoval } from '../transfer.ts';
import { defineAction } from './define.ts';

/** `trash`: move to the Trash mailbox (SPECIAL-USE \Trash, else "Trash"). `expunge`: remove for good. */
export const deleteMessages = defineAction({
  key: 'delete',
  schema: (kit) => kit.z.enum(['trash', 'expunge'], { error: 'expected trash or expunge' }),
  removesMessages: true,
  mayExpunge: (mode, server) => mode === 'expunge' || !server.hasMove,
  preflight: (mode, server) => requireSafeRemoval(mode === 'expunge' ? 'expunge' : 'move', server),
  apply: async (mode, context) => {
    const { session, mailbox, uids, dryRun } = context;
    if (mode === 'expunge') {
      if (!dryRun && uids.length > 0) await expungeOnce(context, uids);
      return { type: 'delete', target: 'expunge', count: uids.length };
    }
    const trash = await session.findTrash(!dryRun);
    if (trash === mailbox.path) {
      throw new MailsiftError(
        `delete: trash cannot apply to the Trash mailbox itself (${JSON.stringify(trash)}); use delete: expunge`,
      );
    }
    if (!dryRun && uids.length > 0) await moveOnce(context, trash);
    return { type: 'delete', target: trash, count: uids.length };
  },
});
