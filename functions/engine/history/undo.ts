import {
  DEFAULT_TIMEOUTS,
  type ImapAccount,
  ImapSession,
  type MailboxInfo,
  type SessionTimeouts,
} from '../../imap/session.ts';
import { expandUidSet } from '../../imap/uid-set.ts';
import { acquireStateLease, DEFAULT_LEASE_MS } from '../../state/lease.ts';
import {
  type JournalAction,
  type JournalEntry,
  type JournalRule,
  journalSet,
  newRunId,
  orderedSet,
  RunJournal,
} from '../../state/run-journal.ts';
import { accountScope, type StateStore } from '../../state/store.ts';
import { accountState } from '../account-state.ts';
import { finishInterruptedExpunges } from '../finish-expunges.ts';
import { trailOf } from '../message-id-trail.ts';
import { moveOnce } from '../transfer.ts';
import { withUidsFoundByMessageId } from './undo-by-message-id.ts';
import { reportGone } from './undo-elsewhere.ts';
import { runMoves, undoFlags } from './undo-flags.ts';
import { line, openSame, otherMessagesAt, stillThere, type Undoing, type UndoLine } from './undo-kit.ts';

/** What an undo did, and what it could not do and why, per rule and action of the run it took back. */
export interface UndoReport {
  readonly runId: string;
  readonly dryRun: boolean;
  /** The undo's own entry in the history (it can be undone in turn). */
  readonly undoId?: string;
  readonly restored: UndoLine[];
  readonly notUndone: UndoLine[];
}

export type { UndoLine } from './undo-kit.ts';

export interface UndoOptions {
  readonly state: StateStore;
  readonly dryRun: boolean;
  /** Only this rule's changes. */
  readonly rule?: string;
  readonly timeouts?: SessionTimeouts;
}

/**
 * Takes back what the run `entry` changed, newest change first: moves messages back from where it put them
 * (found by the UIDs COPYUID gave), restores the flags it really changed, removes the copies it made, and says
 * what it cannot: messages expunged for good, moved elsewhere or gone since, a mailbox recreated (its
 * UIDVALIDITY changed), webhook posts. It never touches a message the run did not change. A real undo holds
 * the account's lease and is itself recorded in the history.
 */
export async function undoRun(
  entry: JournalEntry,
  account: ImapAccount,
  options: UndoOptions,
): Promise<UndoReport> {
  const scope = accountScope(account);
  const journal = new RunJournal(options.state, scope);
  const base = { runId: entry.id, dryRun: options.dryRun };
  // What earlier undos of this run took back: all of it, or some rules (`--rule`).
  const earlier = new Map<string, string>();
  for (const other of (await journal.list()).filter((candidate) => candidate.undoes === entry.id)) {
    for (const rule of other.undoesRules ?? entry.rules.map((each) => each.name)) earlier.set(rule, other.id);
  }
  const wanted = (name: string) => options.rule === undefined || name === options.rule;
  const done = entry.rules
    .filter((rule) => wanted(rule.name) && earlier.has(rule.name))
    .flatMap((rule) =>
      rule.actions.map((action) => line(rule, action, `already undone by ${earlier.get(rule.name)}`)),
    );
  if (entry.rules.every((rule) => !wanted(rule.name) || earlier.has(rule.name))) {
    return { ...base, restored: [], notUndone: done };
  }
  const started = Date.now();
  const session = await ImapSession.connect(account, options.timeouts ?? DEFAULT_TIMEOUTS);
  const lease = options.dryRun
    ? undefined
    : await acquireStateLease(options.state, scope, {
        account: entry.account,
        rulesets: [`undo ${entry.id}`],
        durationMs: DEFAULT_LEASE_MS,
      }).catch(async (error: unknown) => {
        await session.close();
        throw error;
      });
  const undoing: Omit<Undoing, 'moves'> = {
    session,
    dryRun: options.dryRun,
    report: { restored: [], notUndone: [...done] },
    journal: [],
    undoOf: entry.id,
    state: accountState(options.state, scope, lease ? { leaseToken: lease.token } : {}),
    renumbered: new Map(),
  };
  try {
    // Without UIDPLUS the run's moves named no new UIDs: found by Message-ID first, where the run noted them.
    const undone = (name: string) => wanted(name) && !earlier.has(name);
    const resolved = await withUidsFoundByMessageId(undoing, entry, undone);
    await undoSteps({ ...undoing, moves: runMoves(resolved) }, resolved, undone);
  } finally {
    await lease?.release();
    await session.close();
  }
  const undoId = options.dryRun || undoing.journal.length === 0 ? undefined : newRunId(new Date(started));
  if (undoId) {
    await journal.write({
      id: undoId,
      ruleset: entry.ruleset,
      account: entry.account,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date().toISOString(),
      rules: undoing.journal,
      undoes: entry.id,
      ...(options.rule !== undefined ? { undoesRules: [options.rule] } : {}),
    });
  }
  return { ...base, ...(undoId ? { undoId } : {}), ...undoing.report };
}

/**
 * Flags first, on the messages where they are now (a later move of the run followed), then the moves back, newest
 * first: an undo cut anywhere and run again ends in the same state, each step being idempotent.
 */
async function undoSteps(
  undoing: Undoing,
  entry: JournalEntry,
  wanted: (rule: string) => boolean,
): Promise<void> {
  const steps = entry.rules
    .flatMap((rule) => rule.actions.map((action) => ({ rule, action })))
    .map((step, at) => ({ ...step, at }))
    .filter((step) => wanted(step.rule.name))
    .reverse();
  const isFlags = (step: { action: JournalAction }) => /^(add|remove)Flags$/.test(step.action.type);
  for (const step of steps.filter(isFlags)) await undoFlags(undoing, step.rule, step.action, step.at);
  for (const step of steps.filter((step) => !isFlags(step)))
    await undoAction(undoing, step.rule, step.action);
}

async function undoAction(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { report } = undoing;
  if (action.expunged) return void report.notUndone.push(line(rule, action, 'expunged for good'));
  if (action.type === 'webhook')
    return void report.notUndone.push(line(rule, action, 'posted to a webhook: a post cannot be taken back'));
  if (!action.uids)
    return void report.notUndone.push(line(rule, action, 'too many scattered UIDs to keep in the history'));
  if (action.to && (action.type === 'moveTo' || action.type === 'delete'))
    return await undoMove(undoing, rule, action);
  if (action.to && action.type === 'copyTo') return await undoCopy(undoing, rule, action);
  report.notUndone.push(line(rule, action, 'nothing to undo for this action'));
}

/**
 * Where the run put the messages of a move or copy (target mailbox, their UIDs there), with that mailbox open;
 * undefined, reported, where they cannot be found: no COPYUID, or the mailbox is gone or recreated.
 */
async function whereTheRunPutThem(
  undoing: Undoing,
  rule: JournalRule,
  action: JournalAction,
  what: 'messages' | 'copies',
): Promise<{ to: NonNullable<JournalAction['to']>; targets: number[]; info: MailboxInfo } | undefined> {
  const to = action.to as NonNullable<JournalAction['to']>;
  // Found by Message-ID, none of them: said already (undo-by-message-id.ts).
  if (to.foundByMessageId && !to.uids) return undefined;
  const noCopyUid = `the server gave no COPYUID (no UIDPLUS): the ${what} cannot be told apart in ${to.mailbox}`;
  const targets = to.uids ? expandUidSet(to.uids) : [];
  const opened = to.uids ? await openSame(undoing, to.mailbox, to.uidValidity, targets) : { why: noCopyUid };
  if ('why' in opened || !to.uids) {
    undoing.report.notUndone.push(line(rule, action, 'why' in opened ? opened.why : noCopyUid));
    return undefined;
  }
  return { to, targets, info: opened.info };
}

async function undoMove(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { session, report } = undoing;
  const found = await whereTheRunPutThem(undoing, rule, action, 'messages');
  if (!found) return;
  const { to, info } = found;
  // Where a later move of the run, taken back already, put them back: under new UIDs (chained moves).
  const moved = undoing.renumbered.get(to.mailbox);
  const now = found.targets.map((uid) => moved?.get(uid) ?? uid);
  // A dry run's "would be back" get placeholders below 0: counted as there, moved by nobody.
  const targets = now.map((uid, index) => (uid === 'would' ? -index - 1 : uid));
  if (session.profile.labels && !session.profile.move) {
    // On a label server, an expunge after a COPY back would delete the message for good.
    return void report.notUndone.push(
      line(rule, action, 'needs MOVE on a server whose mailboxes are labels'),
    );
  }
  // Without MOVE: an undo cut between its STORE \Deleted and its UID EXPUNGE left the originals marked, their
  // copies already back; finished first, as a run finishes its own (finish-expunges.ts).
  if (!session.profile.move && !undoing.dryRun) await finishInterruptedExpunges(session, undoing.state, info);
  const real = targets.filter((uid) => uid > 0);
  const present = new Set(await stillThere(session, real));
  for (const uid of targets) if (uid < 0) present.add(uid);
  const others = await otherMessagesAt(session, keptIds(to, now, present));
  // Ascending, so that the undo's own record pairs each UID with its COPYUID in the same order.
  const back = real.filter((uid) => present.has(uid) && !others.has(uid)).sort((a, b) => a - b);
  if (others.size > 0) {
    const why = `holds other messages at those UIDs now (not the Message-IDs the run moved: restored from a backup?)`;
    report.notUndone.push(line(rule, action, `${to.mailbox} ${why}`, others.size));
  }
  const gone = targets.flatMap((uid, index) => (present.has(uid) ? [] : [index]));
  const sources = expandUidSet(action.uids);
  const sourceOf = new Map(targets.map((uid, index) => [uid, sources[index] as number]));
  // A dry run moves nothing: what it would move back into the rule's mailbox is noted for an earlier move there.
  if (undoing.dryRun)
    for (const uid of targets)
      if (present.has(uid) && !others.has(uid))
        renumberedIn(undoing, rule.mailbox).set(sourceOf.get(uid) as number, 'would');
  if (back.length > 0) await moveBack(undoing, rule, { to, info, sourceOf }, back);
  const restored = back.length + targets.filter((uid) => uid < 0).length;
  if (restored > 0) report.restored.push(line(rule, action, foundHow(to), restored));
  if (gone.length > 0) await reportGone(undoing, rule, action, gone);
}

/** Target UID → the Message-ID the run kept for it, for the UIDs `present` (a chained move's renumbering followed). */
function keptIds(
  to: NonNullable<JournalAction['to']>,
  now: readonly (number | 'would')[],
  present: ReadonlySet<number>,
): Map<number, string> {
  const ids = to.messageIds?.length === now.length ? to.messageIds : [];
  const kept = new Map<number, string>();
  ids.forEach((id, index) => {
    const uid = now[index];
    if (id !== null && typeof uid === 'number' && present.has(uid)) kept.set(uid, id);
  });
  return kept;
}

/** Moves `back` (UIDs in the selected target) to the rule's mailbox, and records that in the undo's journal. */
async function moveBack(
  undoing: Undoing,
  rule: JournalRule,
  where: {
    readonly to: NonNullable<JournalAction['to']>;
    readonly info: MailboxInfo;
    /** Each target UID's UID in the rule's mailbox before the run moved it. */
    readonly sourceOf: ReadonlyMap<number, number>;
  },
  back: readonly number[],
): Promise<void> {
  const { session } = undoing;
  const { to, info, sourceOf } = where;
  const renumbered = renumberedIn(undoing, rule.mailbox);
  if (!undoing.dryRun) {
    // The undo's own moves can be undone in turn: without UIDPLUS, by the same trail as the run's.
    const trail = await trailOf(session, back, rule.mailbox);
    const copied = session.profile.move
      ? await session.moveMessages(back, rule.mailbox)
      : await copyBackOnce(undoing, rule, info, back);
    for (const uid of back) {
      const now = copied?.uids.get(uid);
      if (now !== undefined) renumbered.set(sourceOf.get(uid) as number, now);
    }
    // Only what COPYUID mapped (a rerun after a cut copies some no more): the entry's UIDs and new UIDs pair up.
    const mapped = copied ? back.filter((uid) => copied.uids.has(uid)) : back;
    undoing.journal.push({
      name: rule.name,
      mailbox: to.mailbox,
      uidValidity: to.uidValidity ?? '',
      actions: [
        {
          type: 'moveTo',
          target: rule.mailbox,
          uids: journalSet(mapped),
          count: mapped.length,
          to: {
            mailbox: rule.mailbox,
            ...(copied
              ? {
                  uidValidity: copied.uidValidity.toString(),
                  uids: orderedSet(mapped.map((uid) => copied.uids.get(uid) as number)),
                }
              : trail
                ? { ...trail }
                : {}),
          },
        },
      ],
    });
  }
}

/** The undo's renumbering of messages it moved back into `mailbox` (see Undoing.renumbered). */
function renumberedIn(undoing: Undoing, mailbox: string): Map<number, number | 'would'> {
  const map = undoing.renumbered.get(mailbox) ?? new Map<number, number | 'would'>();
  undoing.renumbered.set(mailbox, map);
  return map;
}

/** Said with what an undo restored where it found the messages by Message-ID. */
function foundHow(to: NonNullable<JournalAction['to']>): string | undefined {
  return to.foundByMessageId ? 'found by Message-ID: the server has no UIDPLUS' : undefined;
}

/**
 * Without MOVE: COPY back once (the copy journal, named after the undone run, so that a rerun after a cut does not
 * copy again), then `\Deleted` and UID EXPUNGE of exactly these, written down first (transfer.ts moveOnce).
 */
async function copyBackOnce(undoing: Undoing, rule: JournalRule, from: MailboxInfo, uids: readonly number[]) {
  const context = {
    session: undoing.session,
    mailbox: from,
    uids,
    state: undoing.state,
    ruleset: { name: `undo ${undoing.undoOf}` },
    rule: { name: rule.name },
  };
  const copied = await moveOnce(context, rule.mailbox);
  await undoing.state.copyJournal?.endRule({
    ruleset: context.ruleset.name,
    rule: rule.name,
    source: from,
    matched: uids,
    acted: uids,
    error: false,
    failedUids: new Set(),
  });
  return copied;
}

async function undoCopy(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { session, report } = undoing;
  const found = await whereTheRunPutThem(undoing, rule, action, 'copies');
  if (!found) return;
  const { to, targets } = found;
  if (!session.profile.uidPlus) {
    // UID EXPUNGE is UIDPLUS's (RFC 4315 §2.1); a plain EXPUNGE would also remove other clients' \Deleted mail.
    return void report.notUndone.push(
      line(rule, action, 'copies cannot be removed safely without UIDPLUS (UID EXPUNGE)'),
    );
  }
  // Marked \Deleted too: an undo cut between its STORE and its UID EXPUNGE left them so.
  const copies = await stillThere(session, targets, true);
  const gone = targets.length - copies.length;
  if (gone > 0) report.notUndone.push(line(rule, action, `copies no longer in ${to.mailbox}`, gone));
  if (copies.length > 0 && !undoing.dryRun) {
    await session.markDeleted(copies);
    await session.expungeExactly(copies);
  }
  report.restored.push(line(rule, action, foundHow(to), copies.length));
}
