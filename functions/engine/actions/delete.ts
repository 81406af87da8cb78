import { MailsiftError } from '../../errors.ts';
import { moveOnce } from './transfer.ts';
import type { ActionHandler } from './types.ts';

/** `trash`: move to the Trash mailbox (SPECIAL-USE \Trash, else "Trash"). `expunge`: remove for good. */
export const applyDelete: ActionHandler<'trash' | 'expunge'> = async (mode, context) => {
  const { session, mailbox, uids, dryRun } = context;
  if (mode === 'expunge') {
    session.assertCanRemove('expunge');
    if (!dryRun && uids.length > 0) await session.expungeUids(uids);
    return { type: 'delete', target: 'expunge', count: uids.length, removesMessages: true };
  }
  const trash = await session.findTrash(!dryRun);
  if (trash === mailbox.path) {
    throw new MailsiftError(
      `delete: trash cannot apply to the Trash mailbox itself (${JSON.stringify(trash)}); use delete: expunge`,
    );
  }
  session.assertCanRemove('move');
  if (!dryRun && uids.length > 0) await moveOnce(context, trash);
  return { type: 'delete', target: trash, count: uids.length, removesMessages: true };
};
