import type { CopyScope } from '../copy-journal.ts';
import type { ActionContext } from './types.ts';

/**
 * `UID COPY` of the context's UIDs to `target`. With a copy journal (a real run holding the account lease)
 * messages that a cut-short earlier run of this rule already copied are not copied again, and this COPY is
 * written down first so that a cut after it cannot make the next run copy twice.
 */
export async function copyOnce(context: ActionContext, target: string): Promise<void> {
  const { session, uids, copyJournal } = context;
  if (!copyJournal) return await session.copyMessages(uids, target);
  const scope = scopeOf(context, target);
  const copied = await copyJournal.alreadyCopied(scope, uids);
  const rest = copied.size > 0 ? uids.filter((uid) => !copied.has(uid)) : uids;
  if (rest.length === 0) return;
  await copyJournal.record(scope, rest);
  await session.copyMessages(rest, target);
}

/**
 * Moves the context's UIDs to `target`: `UID MOVE` is atomic and needs no journal; COPY + `UID EXPUNGE` gets
 * the same once-only treatment as `copyOnce`.
 */
export async function moveOnce(context: ActionContext, target: string): Promise<void> {
  const { session, uids, copyJournal } = context;
  if (!copyJournal || session.hasCapability('MOVE')) return await session.moveMessages(uids, target);
  const scope = scopeOf(context, target);
  const copied = await copyJournal.alreadyCopied(scope, uids);
  if (copied.size < uids.length) {
    await copyJournal.record(
      scope,
      uids.filter((uid) => !copied.has(uid)),
    );
  }
  await session.moveMessages(uids, target, { alreadyCopied: copied });
}

function scopeOf(context: ActionContext, target: string): CopyScope {
  return { ruleset: context.ruleset.name, rule: context.ruleName, source: context.mailbox, target };
}
