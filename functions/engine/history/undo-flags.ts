import { expandUidSet } from '../../imap/uid-set.ts';
import {
  type JournalAction,
  type JournalEntry,
  type JournalRule,
  journalSet,
} from '../../state/run-journal.ts';
import { line, type RunMove, sameMailbox, stillThere, type Undoing } from './undo-kit.ts';

/** The run's moves and deletes to Trash that kept a COPYUID map, in the order the run made them. */
export function runMoves(entry: JournalEntry): RunMove[] {
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
export async function undoFlags(
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
      // Appended in place: copying the list for each of 50,000 messages took seconds.
      const list = place.flags.get(flag) ?? [];
      list.push(where.uid);
      place.flags.set(flag, list);
    }
  }
  let restored = 0;
  let missing = 0;
  for (const place of byPlace.values()) {
    const known = [...place.flags.values()].flat();
    const refused = await sameMailbox(undoing, place.mailbox, place.validity || undefined, known);
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
