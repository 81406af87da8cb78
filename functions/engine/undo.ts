import { MailboxNotFoundError } from '../errors.ts';
import { DEFAULT_TIMEOUTS, type ImapAccount, ImapSession, type SessionTimeouts } from '../imap/session.ts';
import { expandUidSet } from '../imap/uid-set.ts';
import { acquireStateLease, DEFAULT_LEASE_MS } from '../state/lease.ts';
import {
  type JournalAction,
  type JournalEntry,
  type JournalRule,
  journalSet,
  newRunId,
  orderedSet,
  RunJournal,
} from '../state/run-journal.ts';
import { accountScope, type StateStore } from '../state/store.ts';

/** What an undo did, and what it could not do and why, per rule and action of the run it took back. */
export interface UndoReport {
  readonly runId: string;
  readonly dryRun: boolean;
  /** The undo's own entry in the history (it can be undone in turn). */
  readonly undoId?: string;
  readonly restored: UndoLine[];
  readonly notUndone: UndoLine[];
}

export interface UndoLine {
  readonly rule: string;
  readonly action: string;
  readonly count: number;
  readonly why?: string;
}

export interface UndoOptions {
  readonly state: StateStore;
  readonly dryRun: boolean;
  /** Only this rule's changes. */
  readonly rule?: string;
  readonly timeouts?: SessionTimeouts;
}

interface Undoing {
  readonly session: ImapSession;
  readonly dryRun: boolean;
  readonly report: { restored: UndoLine[]; notUndone: UndoLine[] };
  /** What the undo itself changed, for its own journal entry. */
  readonly journal: JournalRule[];
  /** The run's moves, in order, for finding where a message it flagged is now. */
  readonly moves: readonly RunMove[];
}

/** One move (or delete to Trash) of the run: from where, to where, and each message's new UID (COPYUID). */
interface RunMove {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly toValidity?: string;
  readonly uids: ReadonlyMap<number, number>;
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
  const undoing: Undoing = {
    session,
    dryRun: options.dryRun,
    report: { restored: [], notUndone: [...done] },
    journal: [],
    moves: runMoves(entry),
  };
  // Flags first, on the messages where they are now (a later move of the run followed), then the moves back:
  // an undo cut anywhere and run again ends in the same state, each step being idempotent.
  const steps = entry.rules
    .flatMap((rule) => rule.actions.map((action) => ({ rule, action })))
    .map((step, at) => ({ ...step, at }))
    .filter((step) => wanted(step.rule.name) && !earlier.has(step.rule.name))
    .reverse();
  const isFlags = (step: { action: JournalAction }) => /^(add|remove)Flags$/.test(step.action.type);
  try {
    for (const step of steps.filter(isFlags)) await undoFlags(undoing, step.rule, step.action, step.at);
    for (const step of steps.filter((step) => !isFlags(step)))
      await undoAction(undoing, step.rule, step.action);
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

function line(rule: JournalRule, action: JournalAction, why?: string, count = action.count): UndoLine {
  return {
    rule: rule.name,
    action: action.target ? `${action.type} ${action.target}` : action.type,
    count,
    ...(why ? { why } : {}),
  };
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
 * Opens `mailbox` and checks it is the one the run changed: same UIDVALIDITY (RFC 3501 §2.3.1.1), else the UIDs
 * name other messages now. Returns why not, or undefined.
 */
async function sameMailbox(
  undoing: Undoing,
  mailbox: string,
  uidValidity: string | undefined,
): Promise<string | undefined> {
  try {
    const opened = await undoing.session.openMailbox(mailbox, undoing.dryRun);
    if (uidValidity !== undefined && opened.uidValidity.toString() !== uidValidity) {
      return `${mailbox} was deleted and created again since (its UIDVALIDITY changed)`;
    }
    return undefined;
  } catch (error) {
    if (error instanceof MailboxNotFoundError) return `${mailbox} no longer exists`;
    throw error;
  }
}

/** Of `uids`, those still in the selected mailbox (and, unless `andDeleted`, not marked \Deleted). */
async function stillThere(
  session: ImapSession,
  uids: readonly number[],
  andDeleted = false,
): Promise<number[]> {
  if (uids.length === 0) return [];
  return await session.searchUids({ uid: journalSet(uids), ...(andDeleted ? {} : { deleted: false }) });
}

async function undoMove(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { session, report } = undoing;
  const to = action.to as NonNullable<JournalAction['to']>;
  if (!to.uids) {
    return void report.notUndone.push(
      line(
        rule,
        action,
        `the server gave no COPYUID (no UIDPLUS): the messages cannot be told apart in ${to.mailbox}`,
      ),
    );
  }
  const targets = expandUidSet(to.uids);
  const refused = await sameMailbox(undoing, to.mailbox, to.uidValidity);
  if (refused) return void report.notUndone.push(line(rule, action, refused));
  if (session.profile.labels && !session.profile.move) {
    // On a label server, an expunge after a COPY back would delete the message for good.
    return void report.notUndone.push(
      line(rule, action, 'needs MOVE on a server whose mailboxes are labels'),
    );
  }
  const present = new Set(await stillThere(session, targets));
  // Ascending, so that the undo's own record pairs each UID with its COPYUID in the same order.
  const back = targets.filter((uid) => present.has(uid)).sort((a, b) => a - b);
  const gone = targets.length - back.length;
  if (gone > 0)
    report.notUndone.push(
      line(rule, action, `no longer in ${to.mailbox} (moved elsewhere or expunged since)`, gone),
    );
  if (back.length === 0) return;
  if (!undoing.dryRun) {
    const copied = session.profile.move
      ? await session.moveMessages(back, rule.mailbox)
      : await copyThenExpunge(session, back, rule.mailbox);
    undoing.journal.push({
      name: rule.name,
      mailbox: to.mailbox,
      uidValidity: to.uidValidity ?? '',
      actions: [
        {
          type: 'moveTo',
          target: rule.mailbox,
          uids: journalSet(back),
          count: back.length,
          to: {
            mailbox: rule.mailbox,
            ...(copied
              ? {
                  uidValidity: copied.uidValidity.toString(),
                  uids: orderedSet(back.map((uid) => copied.uids.get(uid) ?? 0)),
                }
              : {}),
          },
        },
      ],
    });
  }
  report.restored.push(line(rule, action, undefined, back.length));
}

/** Without MOVE: COPY back, then `\Deleted` and UID EXPUNGE of exactly these (UIDPLUS, as the run's move had). */
async function copyThenExpunge(session: ImapSession, uids: readonly number[], destination: string) {
  const copied = await session.copyMessages(uids, destination);
  await session.markDeleted(uids);
  await session.expungeExactly(uids);
  return copied;
}

/** The run's moves and deletes to Trash that kept a COPYUID map, in the order the run made them. */
function runMoves(entry: JournalEntry): RunMove[] {
  return entry.rules
    .flatMap((rule) => rule.actions.map((action) => ({ rule, action })))
    .flatMap(({ rule, action }, at) => {
      if (!action.to?.uids || !(action.type === 'moveTo' || action.type === 'delete')) return [];
      const sources = expandUidSet(action.uids);
      const targets = expandUidSet(action.to.uids);
      const uids = new Map(sources.map((uid, index) => [uid, targets[index] as number]));
      return [{ at, from: rule.mailbox, to: action.to.mailbox, toValidity: action.to.uidValidity, uids }];
    });
}

/** Where a message the run changed at step `at` in `mailbox` is now: after its later moves, if any. */
function locate(moves: readonly RunMove[], at: number, mailbox: string, uid: number, validity: string) {
  let where = { mailbox, uid, validity };
  for (const move of moves) {
    const next = move.at > at && move.from === where.mailbox ? move.uids.get(where.uid) : undefined;
    if (next !== undefined) where = { mailbox: move.to, uid: next, validity: move.toValidity ?? '' };
  }
  return where;
}

/**
 * Takes off the flags the run put on (puts back those it took off), on exactly the messages whose flags it
 * changed, wherever they are now: in the rule's mailbox, or where a later move of the run took them.
 */
async function undoFlags(
  undoing: Undoing,
  rule: JournalRule,
  action: JournalAction,
  at: number,
): Promise<void> {
  const { session, report } = undoing;
  if (!action.uids) {
    return void report.notUndone.push(line(rule, action, 'too many scattered UIDs to keep in the history'));
  }
  const byPlace = new Map<string, { mailbox: string; validity: string; flags: Map<string, number[]> }>();
  for (const [flag, set] of Object.entries(action.changed ?? {})) {
    for (const uid of expandUidSet(set)) {
      const where = locate(undoing.moves, at, rule.mailbox, uid, rule.uidValidity);
      const key = `${where.mailbox}\u0000${where.validity}`;
      const place = byPlace.get(key) ?? {
        mailbox: where.mailbox,
        validity: where.validity,
        flags: new Map(),
      };
      byPlace.set(key, place);
      place.flags.set(flag, [...(place.flags.get(flag) ?? []), where.uid]);
    }
  }
  let restored = 0;
  let missing = 0;
  for (const place of byPlace.values()) {
    const refused = await sameMailbox(undoing, place.mailbox, place.validity || undefined);
    if (refused) {
      report.notUndone.push(
        line(rule, action, refused, Math.max(...[...place.flags.values()].map((u) => u.length))),
      );
      continue;
    }
    const changes: Record<string, string> = {};
    for (const [flag, uids] of place.flags) {
      // \Deleted ones too where the run set \Deleted itself (addFlags: ['\Deleted']).
      const present = await stillThere(session, uids, flag.toLowerCase() === '\\deleted');
      missing = Math.max(missing, uids.length - present.length);
      restored = Math.max(restored, present.length);
      if (present.length === 0) continue;
      // The opposite STORE, on exactly the messages whose flag the run changed.
      if (!undoing.dryRun)
        await session.storeFlags(present, action.type === 'addFlags' ? 'remove' : 'add', [flag]);
      changes[flag] = journalSet(present);
    }
    if (!undoing.dryRun && Object.keys(changes).length > 0)
      journalFlags(undoing, rule, action, place, changes);
  }
  if (missing > 0) report.notUndone.push(line(rule, action, `not where the run left them any more`, missing));
  report.restored.push(line(rule, action, undefined, restored));
}

/** The undo's own record of a flag change, in the mailbox it made it in. */
function journalFlags(
  undoing: Undoing,
  rule: JournalRule,
  action: JournalAction,
  place: { mailbox: string; validity: string },
  changes: Record<string, string>,
): void {
  const all = new Set(Object.values(changes).flatMap((set) => expandUidSet(set)));
  undoing.journal.push({
    name: rule.name,
    mailbox: place.mailbox,
    uidValidity: place.validity,
    actions: [
      {
        type: action.type === 'addFlags' ? 'removeFlags' : 'addFlags',
        target: Object.keys(changes).join(' '),
        uids: journalSet(all),
        count: all.size,
        changed: changes,
      },
    ],
  });
}

async function undoCopy(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { session, report } = undoing;
  const to = action.to as NonNullable<JournalAction['to']>;
  if (!to.uids) {
    return void report.notUndone.push(
      line(
        rule,
        action,
        `the server gave no COPYUID (no UIDPLUS): the copies cannot be told apart in ${to.mailbox}`,
      ),
    );
  }
  const refused = await sameMailbox(undoing, to.mailbox, to.uidValidity);
  if (refused) return void report.notUndone.push(line(rule, action, refused));
  // Marked \Deleted too: an undo cut between its STORE and its UID EXPUNGE left them so.
  const copies = await stillThere(session, expandUidSet(to.uids), true);
  const gone = expandUidSet(to.uids).length - copies.length;
  if (gone > 0) report.notUndone.push(line(rule, action, `copies no longer in ${to.mailbox}`, gone));
  if (copies.length > 0 && !undoing.dryRun) {
    await session.markDeleted(copies);
    await session.expungeExactly(copies);
  }
  report.restored.push(line(rule, action, undefined, copies.length));
}
