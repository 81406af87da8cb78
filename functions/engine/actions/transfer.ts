import type { CopyJournal } from '../copy-journal.ts';
import type { ActionContext } from './types.ts';

/**
 * `UID COPY` of the context's UIDs to `target`. With a copy journal (a real run holding the account lease)
 * messages that a cut-short earlier run of this rule already copied are not copied again, and this COPY is
 * written down first so that a cut after it cannot make the next run copy twice.
 */
export async function copyOnce(context: ActionContext, target: string): Promise<void> {
  const { session, uids, copyJournal } = context;
  if (!copyJournal) return await session.copyMessages(uids, target);
  const { toCopy } = await writeDown(copyJournal, context, target);
  if (toCopy.length > 0) await session.copyMessages(toCopy, target);
}

/**
 * Moves the context's UIDs to `target`: `UID MOVE` is atomic and needs no journal; COPY + `UID EXPUNGE` gets
 * the same once-only treatment as `copyOnce`.
 */
export async function moveOnce(context: ActionContext, target: string): Promise<void> {
  const { session, uids, copyJournal } = context;
  if (!copyJournal || session.hasCapability('MOVE')) return await session.moveMessages(uids, target);
  const { copied } = await writeDown(copyJournal, context, target);
  await session.moveMessages(uids, target, { alreadyCopied: copied });
}

/**
 * Splits the context's UIDs into those an earlier run already copied to `target` and those still to copy,
 * and writes the latter down before they are copied.
 */
async function writeDown(
  copyJournal: CopyJournal,
  context: ActionContext,
  target: string,
): Promise<{ copied: ReadonlySet<number>; toCopy: readonly number[] }> {
  const { uids } = context;
  const scope = { ruleset: context.ruleset.name, rule: context.ruleName, source: context.mailbox, target };
  const copied = await copyJournal.alreadyCopied(scope, uids);
  const toCopy = uids.filter((uid) => !copied.has(uid));
  if (toCopy.length > 0) await copyJournal.record(scope, toCopy);
  return { copied, toCopy };
}
