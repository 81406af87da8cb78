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

/** Per mailbox: a message's UID before the run → its UID now, for messages an undo moved back. */
type Renumbered = Map<string, Map<number, number>>;

interface Undoing {
  readonly session: ImapSession;
  readonly dryRun: boolean;
  readonly renumbered: Renumbered;
  readonly report: { restored: UndoLine[]; notUndone: UndoLine[] };
  /** What the undo itself changed, for its own journal entry. */
  readonly journal: JournalRule[];
  /** A dry run: per mailbox, the UIDs (before the run) of messages a real undo would have moved back there. */
  readonly wouldBeBack: Map<string, Set<number>>;
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
  const earlier = (await journal.list()).find((other) => other.undoes === entry.id);
  if (earlier) {
    const all = entry.rules.flatMap((rule) =>
      rule.actions.map((action) => line(rule, action, `already undone by ${earlier.id}`)),
    );
    return { ...base, restored: [], notUndone: all };
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
    renumbered: new Map(),
    report: { restored: [], notUndone: [] },
    journal: [],
    wouldBeBack: new Map(),
  };
  try {
    for (const rule of [...entry.rules].reverse()) {
      if (options.rule !== undefined && rule.name !== options.rule) continue;
      for (const action of [...rule.actions].reverse()) await undoAction(undoing, rule, action);
    }
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
  if (action.type === 'addFlags' || action.type === 'removeFlags')
    return await undoFlags(undoing, rule, action);
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

/** Of `uids`, those still in the selected mailbox (and not marked \Deleted). */
async function stillThere(session: ImapSession, uids: readonly number[]): Promise<number[]> {
  if (uids.length === 0) return [];
  return await session.searchUids({ uid: journalSet(uids), deleted: false });
}

async function undoMove(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { session, report } = undoing;
  const to = action.to as NonNullable<JournalAction['to']>;
  const sources = expandUidSet(action.uids);
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
  const present = new Set(await stillThere(session, targets));
  const back = targets.filter((uid) => present.has(uid));
  const gone = targets.length - back.length;
  if (gone > 0)
    report.notUndone.push(
      line(rule, action, `no longer in ${to.mailbox} (moved elsewhere or expunged since)`, gone),
    );
  if (back.length === 0) return;
  if (undoing.dryRun) {
    const would = undoing.wouldBeBack.get(rule.mailbox) ?? new Set<number>();
    undoing.wouldBeBack.set(rule.mailbox, would);
    targets.forEach((target, index) => {
      if (present.has(target)) would.add(sources[index] as number);
    });
  } else {
    const copied = session.profile.move
      ? await session.moveMessages(back, rule.mailbox)
      : await copyThenExpunge(session, back, rule.mailbox);
    remember(undoing, rule.mailbox, sources, targets, copied?.uids);
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

/** Where messages moved back now are: their UID before the run → their UID in `mailbox` now. */
function remember(
  undoing: Undoing,
  mailbox: string,
  sources: readonly number[],
  targets: readonly number[],
  back?: ReadonlyMap<number, number>,
) {
  const map = undoing.renumbered.get(mailbox) ?? new Map<number, number>();
  undoing.renumbered.set(mailbox, map);
  targets.forEach((target, index) => {
    const now = back?.get(target);
    const before = sources[index];
    if (now !== undefined && before !== undefined) map.set(before, now);
  });
}

async function undoFlags(undoing: Undoing, rule: JournalRule, action: JournalAction): Promise<void> {
  const { session, report } = undoing;
  const changed = Object.entries(action.changed ?? {});
  if (changed.length === 0) return void report.restored.push(line(rule, action, undefined, 0));
  const refused = await sameMailbox(
    undoing,
    rule.mailbox,
    undoing.renumbered.has(rule.mailbox) ? undefined : rule.uidValidity,
  );
  if (refused) return void report.notUndone.push(line(rule, action, refused));
  const renumbered = undoing.renumbered.get(rule.mailbox);
  const changes: Record<string, string> = {};
  let restored = 0;
  let missing = 0;
  for (const [flag, set] of changed) {
    const all = expandUidSet(set);
    // A dry run moved nothing back: what a real undo would have moved back counts as there.
    const would = undoing.wouldBeBack.get(rule.mailbox) ?? new Set<number>();
    const uids = all.filter((uid) => !would.has(uid)).map((uid) => renumbered?.get(uid) ?? uid);
    const present = [...(await stillThere(session, uids)), ...all.filter((uid) => would.has(uid))];
    missing = Math.max(missing, uids.length - present.length);
    restored = Math.max(restored, present.length);
    if (present.length === 0) continue;
    // The opposite STORE, on exactly the messages whose flag the run changed.
    if (!undoing.dryRun)
      await session.storeFlags(present, action.type === 'addFlags' ? 'remove' : 'add', [flag]);
    changes[flag] = journalSet(present);
  }
  if (missing > 0) report.notUndone.push(line(rule, action, `not in ${rule.mailbox} any more`, missing));
  report.restored.push(line(rule, action, undefined, restored));
  if (!undoing.dryRun && Object.keys(changes).length > 0) {
    const opened = await session.openMailbox(rule.mailbox, false);
    const all = Object.values(changes).flatMap((set) => expandUidSet(set));
    undoing.journal.push({
      name: rule.name,
      mailbox: rule.mailbox,
      uidValidity: opened.uidValidity.toString(),
      actions: [
        {
          type: action.type === 'addFlags' ? 'removeFlags' : 'addFlags',
          target: Object.keys(changes).join(' '),
          uids: journalSet(new Set(all)),
          count: restored,
          changed: changes,
        },
      ],
    });
  }
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
  const copies = await stillThere(session, expandUidSet(to.uids));
  const gone = expandUidSet(to.uids).length - copies.length;
  if (gone > 0) report.notUndone.push(line(rule, action, `copies no longer in ${to.mailbox}`, gone));
  if (copies.length > 0 && !undoing.dryRun) {
    await session.markDeleted(copies);
    await session.expungeExactly(copies);
  }
  report.restored.push(line(rule, action, undefined, copies.length));
}
