import { CapabilityError } from '../errors.ts';
import type { CopiedUids, ImapSession, MailboxInfo } from '../imap/session.ts';
import type { AccountState } from './account-state.ts';
import type { ServerFacts } from './actions/types.ts';

/** What a copy or move needs of its context: an action's (ActionContext), or an undo's moving messages back. */
export interface TransferContext {
  readonly session: ImapSession;
  readonly mailbox: MailboxInfo;
  readonly uids: readonly number[];
  readonly state: AccountState;
  readonly ruleset: { readonly name: string };
  readonly rule: { readonly name: string };
}

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
export async function copyOnce(context: TransferContext, target: string): Promise<CopiedUids | undefined> {
  const toCopy = await notCopiedYet(context, target);
  await writeDown(context, target, toCopy);
  return toCopy.length > 0 ? await context.session.copyMessages(toCopy, target) : undefined;
}

/**
 * Moves the context's UIDs to `target`: `UID MOVE` (RFC 6851) is atomic and needs no journal; without it COPY
 * (once, as in copyOnce), then `\Deleted` and `UID EXPUNGE` of exactly these UIDs, the sources marked only
 * after the copy succeeded.
 */
export async function moveOnce(context: TransferContext, target: string): Promise<CopiedUids | undefined> {
  const { session, uids } = context;
  if (session.profile.move) return await session.moveMessages(uids, target);
  requireSafeRemoval('move', { hasMove: false, hasUidPlus: session.profile.uidPlus });
  // Copies found once for all the UIDs: each copy stands for one original, twins in two chunks included.
  const toCopy = new Set(await notCopiedYet(context, target));
  const copied: (CopiedUids | undefined)[] = [];
  // Chunk by chunk, each copied and expunged before the next: a cut leaves at most one chunk half done.
  for (const chunk of session.chunks(uids)) {
    const copying = chunk.filter((uid) => toCopy.has(uid));
    await writeDown(context, target, copying);
    if (copying.length > 0) copied.push(await session.copyMessages(copying, target));
    await expungeOnce(context, chunk);
  }
  return mergeCopied(copied);
}

/** The COPYUID maps of several COPYs to one target as one, where every COPY had one. */
function mergeCopied(maps: readonly (CopiedUids | undefined)[]): CopiedUids | undefined {
  const [first] = maps;
  if (!first || maps.some((map) => map === undefined || map.uidValidity !== first.uidValidity))
    return undefined;
  return { uidValidity: first.uidValidity, uids: new Map(maps.flatMap((map) => [...(map?.uids ?? [])])) };
}

/**
 * Marks `uids` `\Deleted` and expunges exactly them with `UID EXPUNGE`, written down as a pending expunge first,
 * so that an expunge a lost connection interrupted can be told from other clients' deletions and finished by
 * the next run (finish-expunges.ts).
 */
export async function expungeOnce(context: TransferContext, uids: readonly number[]): Promise<void> {
  requireSafeRemoval('expunge', { hasMove: false, hasUidPlus: context.session.profile.uidPlus });
  const pending = context.state.pendingExpunges(context.mailbox);
  await pending.record(uids);
  await context.session.markDeleted(uids);
  await context.session.expungeExactly(uids);
  await pending.done();
}

/** The copy journal's scope for this action. */
function scopeOf(context: TransferContext, target: string) {
  return { ruleset: context.ruleset.name, rule: context.rule.name, source: context.mailbox, target };
}

/**
 * Of the context's UIDs, those no cut-short earlier run of this rule copied to `target` already (all of them
 * without a journal: `--no-lease`).
 */
async function notCopiedYet(context: TransferContext, target: string): Promise<number[]> {
  const journal = context.state.copyJournal;
  if (!journal) return [...context.uids];
  const copied = await alreadyCopied(context.session, journal, scopeOf(context, target), context.uids);
  return context.uids.filter((uid) => !copied.has(uid));
}

/** Writes down, before they are copied, that `uids` go to `target` (nothing without a journal). */
async function writeDown(context: TransferContext, target: string, uids: readonly number[]): Promise<void> {
  const journal = context.state.copyJournal;
  if (journal && uids.length > 0) await recordCopy(context.session, journal, scopeOf(context, target), uids);
}
