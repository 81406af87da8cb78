import { CapabilityError } from '../errors.ts';
import type { ActionContext, ServerFacts } from './actions/types.ts';
import { alreadyCopied, recordCopy } from './copies.ts';

/**
 * Whether messages can be removed from a mailbox without touching others: MOVE, or UIDPLUS for `UID EXPUNGE`
 * (RFC 4315 §2.1).
 * @throws CapabilityError when they cannot: a plain EXPUNGE would also remove other clients' `\Deleted` mail.
 */
export function requireSafeRemoval(
  what: 'move' | 'expunge',
  server: Pick<ServerFacts, 'hasMove' | 'hasUidPlus'>,
): void {
  if ((what === 'move' && server.hasMove) || server.hasUidPlus) return;
  throw new CapabilityError(
    `cannot ${what} safely: the server offers neither MOVE nor UIDPLUS, and a plain EXPUNGE would also ` +
      'remove messages that other clients marked \\Deleted',
  );
}

/**
 * `UID COPY` of the context's UIDs to `target`. With a copy journal (a real run holding the account lease)
 * messages that a cut-short earlier run of this rule already copied are not copied again, and this COPY is
 * written down first so that a cut after it cannot make the next run copy twice.
 */
export async function copyOnce(context: ActionContext, target: string): Promise<void> {
  const { toCopy } = await writeDown(context, target);
  if (toCopy.length > 0) await context.session.copyMessages(toCopy, target);
}

/**
 * Moves the context's UIDs to `target`: `UID MOVE` (RFC 6851) is atomic and needs no journal; without it COPY
 * (once, as in copyOnce), then `\Deleted` and `UID EXPUNGE` of exactly these UIDs, the sources marked only
 * after the copy succeeded.
 */
export async function moveOnce(context: ActionContext, target: string): Promise<void> {
  const { session, uids } = context;
  if (session.hasCapability('MOVE')) return await session.moveMessages(uids, target);
  requireSafeRemoval('move', { hasMove: false, hasUidPlus: session.hasCapability('UIDPLUS') });
  // Chunk by chunk, each copied and expunged before the next: a cut leaves at most one chunk half done.
  for (const chunk of session.chunks(uids)) {
    const { toCopy } = await writeDown({ ...context, uids: chunk }, target);
    if (toCopy.length > 0) await session.copyMessages(toCopy, target);
    await expungeOnce(context, chunk);
  }
}

/**
 * Marks `uids` `\Deleted` and expunges exactly them with `UID EXPUNGE`, written down as a pending expunge first,
 * so that an expunge a lost connection interrupted can be told from other clients' deletions and finished by
 * the next run (finish-expunges.ts).
 */
export async function expungeOnce(context: ActionContext, uids: readonly number[]): Promise<void> {
  requireSafeRemoval('expunge', { hasMove: false, hasUidPlus: context.session.hasCapability('UIDPLUS') });
  const pending = context.state.pendingExpunges(context.mailbox);
  await pending.record(uids);
  await context.session.markDeleted(uids);
  await context.session.expungeExactly(uids);
  await pending.done();
}

/**
 * Splits the context's UIDs into those an earlier run already copied to `target` and those still to copy, and
 * writes the latter down before they are copied. Without a journal (no lease: `--no-lease`) all are to copy.
 */
async function writeDown(context: ActionContext, target: string): Promise<{ toCopy: readonly number[] }> {
  const { session, uids, state } = context;
  const journal = state.copyJournal;
  if (!journal) return { toCopy: uids };
  const scope = { ruleset: context.ruleset.name, rule: context.rule.name, source: context.mailbox, target };
  const copied = await alreadyCopied(session, journal, scope, uids);
  const toCopy = uids.filter((uid) => !copied.has(uid));
  if (toCopy.length > 0) await recordCopy(session, journal, scope, toCopy);
  return { toCopy };
}
